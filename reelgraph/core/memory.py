"""Process memory settings for training on CPU (GraphSAGE's and the baselines' fits)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def keep_freed_memory() -> Iterator[bool]:
    """While training, ask glibc to keep freed memory for reuse instead of unmapping it.

    Every step allocates the same few large tensors (millions of edges x hidden). By default
    glibc serves each from a fresh mmap and unmaps it on free, so every step pays first-touch
    page faults again; on the 25m graph in a VM that was a third of the epoch. The setting is
    process-wide, so it is undone (and the kept memory given back) when training ends: in the
    pipeline process, evaluation and publishing run next, and with the setting left on the
    25m pipeline was OOM-killed at 24 GB while publishing. Yields whether it applied (glibc only)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    libc = None
    if name is not None:
        try:
            libc = ctypes.CDLL(name)
            libc.mallopt, libc.malloc_trim  # noqa: B018 - both must exist (glibc)
        except (OSError, AttributeError):
            libc = None
    m_trim_threshold, m_mmap_max = -1, -4
    applied = (
        libc is not None
        and bool(libc.mallopt(m_mmap_max, 0))
        and bool(libc.mallopt(m_trim_threshold, 2**30 * 64))
    )
    try:
        yield applied
    finally:
        if libc is not None:
            libc.mallopt(m_mmap_max, 65536)  # glibc's defaults
            libc.mallopt(m_trim_threshold, 128 * 1024)
            libc.malloc_trim(0)
