"""Memory a stage freed goes back to the system between stages (glibc's malloc_trim)."""

from __future__ import annotations

import numpy as np
import pytest

from flows import memory


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


@pytest.mark.skipif(memory._trim() is None, reason="not glibc")  # noqa: SLF001
def test_freed_heap_memory_is_handed_back():
    np.ones(16 << 20, dtype=np.uint8)  # freeing a 16 MB array raises malloc's mmap threshold ...
    arrays = [np.ones(1 << 20, dtype=np.uint8) for _ in range(200)]  # ... so these 200 MB come from the heap
    del arrays[:-1]  # all but the last: the heap's top stays in use, so malloc cannot shrink it by itself
    before = _rss_mb()
    memory.release()
    assert before - _rss_mb() > 100
