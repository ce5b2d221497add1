"""The random strategy's sampling loop, compiled (see adapters/planners/random_search.py)."""

from __future__ import annotations

import numpy as np

from throttling_sequencer.adapters.planners.kernel.jit import kernel
from throttling_sequencer.adapters.planners.kernel.rng import State, integer, new_state
from throttling_sequencer.adapters.planners.kernel.simulation import FloatArray, Throttles, total_of


@kernel
def sample(
    state: State,
    problem: FloatArray,
    weights: FloatArray,
    low: int,
    high: int,
    count: int,
    best: Throttles,
    best_length: int,
    best_total: float,
) -> tuple[int, float, int]:
    """Draw `count` plans (a length in [1, len(best)], throttles in [low, high]) and keep the best.

    BEST[:best_length] is the best plan so far (best_length 0: none yet, so the first draw is
    kept even if its score is not a number). Returns (best_length, best_total, index of the
    last improving draw, or -1 if none improved).
    """
    max_ticks = best.shape[0]
    candidate = np.empty((1, max_ticks), dtype=np.int64)
    improved_at = -1
    for i in range(count):
        n = integer(state, 1, max_ticks)
        for t in range(n):
            candidate[0, t] = integer(state, low, high)
        total = total_of(problem, weights, candidate, 0, n)
        if best_length == 0 or total < best_total:
            best[:n] = candidate[0, :n]
            best_length, best_total, improved_at = n, total, i
    return best_length, best_total, improved_at


def warm_up() -> None:
    """Compile or load `sample` for the types the planner passes."""
    sample(new_state(0), np.ones(4), np.ones(5), 0, 1, 1, np.zeros(2, dtype=np.int64), 0, 0.0)
