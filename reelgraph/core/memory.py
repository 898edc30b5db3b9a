"""Process memory settings for the heavy stages on CPU (training, the baselines' fits, scoring).

Every training step, baseline fit and scoring batch allocates the same few large tensors
(millions of edges x hidden, a batch x catalogue of scores) and frees them again. By default
glibc serves each one above 128 kB from a fresh mmap and unmaps it on free, so every step pays
first-touch page faults again: on the 25m graph in a VM that was a sixth of the pipeline's CPU
time, spent in the kernel (bench/BENCHMARKS.md, "the allocator").
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import threading
from collections.abc import Iterator

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
# Allocations below this come from the heap, where freed memory is reused; larger ones (rare:
# a whole 25m edge list at once) keep their own mapping, given back when freed.
MMAP_THRESHOLD = 2**30
# Free memory at the top of the heap kept for reuse: mallopt's largest value (it takes an int),
# far above one step's transient tensors (~100 MB at 25m).
KEPT_FREE_BYTES = 2**31 - 1
# glibc's defaults, restored when the outermost setting ends.
DEFAULT_MMAP_THRESHOLD = DEFAULT_TRIM_THRESHOLD = 128 * 1024

_held = 0  # settings in force: nested ones (a training inside a pipeline stage) leave it alone
# Held from more than one thread (a stage in the flow's thread, a fit in a task's worker thread).
_lock = threading.Lock()
_applied = False


@functools.cache  # find_library runs ldconfig: once per process, not per fit
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both must exist (glibc)
    except (OSError, AttributeError):
        return None
    # Declared, so a value out of an int's range raises instead of being masked: an earlier
    # 64 GiB trim threshold wrapped to 0, and glibc then gave memory back at every free.
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return libc


@contextlib.contextmanager
def keep_freed_memory() -> Iterator[bool]:
    """While it holds, glibc keeps freed memory (below MMAP_THRESHOLD per allocation) for reuse
    instead of unmapping it: at 25m two training epochs took 39-41 s, against 46-55 s under
    the old setting (its trim threshold masked to 0) and about twice that with none.
    Process-wide, so the outermost one gives the kept memory back and restores glibc's defaults
    when it ends (a pipeline holds it per stage, so one stage's free memory does not outlive
    it). Yields whether it applied (glibc only)."""
    global _held, _applied
    libc = _glibc()
    with _lock:
        if _held == 0:
            _applied = (
                libc is not None
                and bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
                and bool(libc.mallopt(M_TRIM_THRESHOLD, KEPT_FREE_BYTES))
            )
        _held += 1
        applied = _applied
    try:
        yield applied
    finally:
        with _lock:
            _held -= 1
            if _held == 0 and libc is not None:
                libc.mallopt(M_MMAP_THRESHOLD, DEFAULT_MMAP_THRESHOLD)
                libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)
