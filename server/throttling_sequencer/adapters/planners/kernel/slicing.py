"""Cutting a compiled search into short slices, so the caller can stop it and report progress.

A kernel cannot see a StopSignal (a Python object), so planners run it a few iterations at a
time and check between slices. Slices grow or shrink to take about `SLICE_SECONDS` each:
long enough that the return to Python costs little, short enough that a stop is prompt.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from throttling_sequencer.domain.ports import StopSignal

SLICE_SECONDS = 0.001


def slices(total: int, stop: StopSignal, seconds: float = SLICE_SECONDS) -> Iterator[int]:
    """Yield slice sizes (iterations) adding up to at most `total`, until `stop` says so.

    The first slice is one iteration; each later one is sized from the time the previous took
    (the caller's work between yields), at most doubling.
    """
    done, size = 0, 1
    while done < total and not stop.should_stop():
        count = min(size, total - done)
        started = time.perf_counter()
        yield count
        elapsed = time.perf_counter() - started
        done += count
        fitting = int(count * seconds / elapsed) if elapsed > 0 else 2 * count
        size = max(1, min(2 * count, fitting))
