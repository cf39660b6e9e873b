"""A command-line run keeps freed memory for reuse (``personalization.cli.allocator``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

REFAULTS = """
import resource, sys
import numpy as np
from personalization.cli.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
def faults(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block = np.ones(64 * 2**20 // 8)  # above glibc's largest mmap threshold (32 MB)
del block
before = faults()
block = np.ones(64 * 2**20 // 8)
print(applied, faults() - before)
"""


def faults_of_a_second_block(mode: str) -> tuple[str, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", REFAULTS, mode], capture_output=True, text=True, env=env, check=True
    )
    applied, faults = done.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(not hasattr(os, "confstr"), reason="glibc only")
def test_a_freed_block_is_reused_without_faulting_it_in_again():
    try:
        os.confstr("CS_GNU_LIBC_VERSION")
    except ValueError:
        pytest.skip("not glibc: keep_freed_memory changes nothing")
    applied, kept = faults_of_a_second_block("keep")
    _, default = faults_of_a_second_block("default")
    assert applied == "True"
    assert kept < 8 and default >= 32, (kept, default)  # 64 MB: 32 huge pages or 16k small ones


ARROW_POOL = """
import sys
from personalization.cli.allocator import keep_freed_memory
applied = keep_freed_memory()
import pyarrow as pa
print(applied, pa.default_memory_pool().backend_name)
"""


def test_arrow_allocates_from_the_same_heap_after_keep_freed_memory():
    try:
        os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError):
        pytest.skip("not glibc: keep_freed_memory changes nothing")
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", ARROW_POOL], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split() == ["True", "system"]
