"""Memory the run has freed, handed back to the system between stages.

The C allocator (glibc's malloc) keeps the memory of freed arrays smaller than its mmap threshold, which it raises
as the run frees larger ones, for reuse by the process: after a stage of a large run that is hundreds of MB the
process still holds (its peak RSS) but no longer uses. :func:`release` asks malloc to return it
(``malloc_trim``); elsewhere than glibc it does nothing. Nothing the run holds is touched.
"""

from __future__ import annotations

import functools


@functools.cache
def _trim():
    import ctypes  # only when a run first hands memory back

    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to hand back
        return None


def release() -> None:
    """Return the freed memory of the C heap to the system (``malloc_trim(0)``), where glibc provides it."""
    trim = _trim()
    if trim is not None:
        trim(0)
