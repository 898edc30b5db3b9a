"""The allocator setting training runs under (reelgraph.core.memory.keep_freed_memory)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# In a fresh process: the setting is process-wide, and other tests' threads would add faults.
PROBE = textwrap.dedent(
    """
    import resource
    import numpy as np
    from reelgraph.core.memory import keep_freed_memory

    def faults():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(10):  # a step's temporaries (100 + 48 + 48 MB), freed again
            a = np.ones(12_500_000)
            b = np.ones(6_000_000) * 2
            c = a[:6_000_000] + b
            del a, b, c
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    plain = faults()
    with keep_freed_memory() as applied:
        kept = faults()
    print(applied, plain, kept)
    """
)


def test_freed_memory_is_reused_not_faulted_in_again() -> None:
    """Ten steps' temporaries: by default each faults fresh pages in; under the setting the
    first steps' pages serve the others. (Its trim threshold once overflowed a C int to 0, and
    glibc then gave the memory back at every free.)"""
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    applied, plain, kept = out[0] == "True", int(out[1]), int(out[2])
    if not applied:
        pytest.skip("not glibc: the setting does not apply")
    assert kept * 3 < plain, (plain, kept)
