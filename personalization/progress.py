"""Progress of long work: one callable type and two helpers every long function uses.

A ``Progress`` is ``callable(fraction, message)`` with ``fraction`` in [0, 1], or ``None`` when
nobody listens. Long functions take ``progress: Progress = None`` and call ``report``; a step
that runs a sub-task hands it ``scaled(progress, start, end)`` so that the sub-task's 0..1 maps
onto the parent's ``start..end``.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None] | None


def report(progress: Progress, fraction: float, message: str) -> None:
    """Tell ``progress`` (if any) that ``fraction`` of the work is done, clipped to [0, 1]."""
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), message)


def scaled(progress: Progress, start: float, end: float) -> Progress:
    """A progress callable for a sub-task that fills ``start..end`` of ``progress``."""
    if progress is None:
        return None
    width = end - start
    return lambda fraction, message: report(progress, start + width * fraction, message)
