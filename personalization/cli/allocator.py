"""Memory-allocator settings for one command-line run (glibc only; elsewhere nothing changes).

A command such as ``train-recommender`` is a short batch job that allocates and frees blocks of
tens of MB many times over (each product of an SVD, each block of scores). By default glibc
gives such a block back to the kernel as soon as it is freed (blocks over its mmap threshold are
unmapped, the top of the heap is trimmed), and the next block of that size is faulted in again,
page by page. On virtual machines whose memory the host backs lazily each fresh MB costs a few
ms: ``train-recommender`` at 1M events spent 1.4 of its 3.4 s in the kernel.
``keep_freed_memory`` asks glibc to serve every block from one heap and to keep what is freed
for the next allocation: the command then faults in about its peak once, and the memory goes
back when the process exits. Arrow's buffers (the events read from DuckDB, text columns in
pandas, the export's reasons) are taken from that heap too, instead of from Arrow's own
allocator, which gives freed pages back to the kernel within milliseconds: 0.1-0.2 s less for
``train-recommender`` at 1M events. It is not for long-running commands (``serve``,
``scheduler``), which would keep their peak for their whole life.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1  # the constants of glibc's <malloc.h>
M_MMAP_MAX = -4
M_ARENA_MAX = -8
TRIM_ABOVE = 2**31 - 1  # the largest value mallopt takes (an int): trim only past 2 GB free
ARROW_POOL = "ARROW_DEFAULT_MEMORY_POOL"  # read by pyarrow when it is first imported


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse: no mmap'd blocks, one arena for every
    thread (threads then share what one of them freed), and the heap trimmed only when more than
    2 GB lie free at its top; and Arrow, when it is imported later, to allocate with malloc
    (``ARROW_DEFAULT_MEMORY_POOL``, unless set). Returns whether it applied (False on another C
    library)."""
    try:
        os.confstr("CS_GNU_LIBC_VERSION")  # raises ValueError where the C library is not glibc
        mallopt = ctypes.CDLL(None).mallopt
    except (ValueError, OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    applied = all(
        mallopt(option, value) == 1
        for option, value in ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_ABOVE), (M_ARENA_MAX, 1))
    )
    if applied:
        os.environ.setdefault(ARROW_POOL, "system")
    return applied
