"""Submodules that a command imports only by way of a library's ``import *`` are loaded when
first used instead (``defer_unused_imports``).

SciPy 1.17 builds its array-API namespace with ``from numpy import *``, and NumPy's ``__all__``
names its submodules, so every command that imports ``scipy.sparse`` also ran ``numpy.f2py`` (the
Fortran wrapper generator, with ``charset_normalizer``) and ``numpy.testing`` (with
``unittest``): about 40 ms of a command's start, for modules that no command uses. NumPy itself
loads those submodules lazily when they are first asked for; ``defer_unused_imports`` keeps them
lazy through the ``import *``: the module object exists at once, and it is executed by the
standard library's ``importlib.util.LazyLoader`` the first time one of its attributes is read.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

DEFERRED = ("numpy.f2py", "numpy.testing")


class _Deferred(importlib.abc.MetaPathFinder):
    """Finds the ``DEFERRED`` modules as the other finders do, with their loader made lazy."""

    def find_spec(self, name, path, target=None):
        if name not in DEFERRED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is None:
                continue
            if spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return None  # not a loader LazyLoader can wrap: the usual import goes on
            spec.loader = importlib.util.LazyLoader(spec.loader)
            return spec
        return None


def defer_unused_imports() -> None:
    """Load ``DEFERRED`` lazily from now on in this process (once; they stay eager when already
    imported)."""
    if not any(isinstance(finder, _Deferred) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Deferred())
