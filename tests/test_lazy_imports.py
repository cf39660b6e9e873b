"""Commands load the submodules that SciPy's ``import *`` drags in only when they are used
(``personalization.cli.lazy``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys
from personalization.cli.lazy import defer_unused_imports
defer_unused_imports()
import scipy.sparse, pandas
print("numpy.f2py.crackfortran" in sys.modules, "unittest" in sys.modules)
import numpy.testing
numpy.testing.assert_allclose([1.0], [1.0])  # a deferred module works on first use
print("unittest" in sys.modules)
"""


def test_scipy_no_longer_runs_numpys_fortran_and_test_modules_until_they_are_used():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split() == ["False", "False", "True"]
