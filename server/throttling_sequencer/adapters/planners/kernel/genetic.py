"""The genetic strategy's generation loop, compiled (see adapters/planners/genetic.py).

A population is three arrays kept sorted best-first between calls: GENES[i, :LENGTHS[i]] is
plan i (what lies past its length is never read), SCORES[i] its score. `evolve` runs a given
number of generations in place, so the caller can cut a search into slices and check its
StopSignal in between; the random state persists in the same way, so slicing never changes
the result.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from throttling_sequencer.adapters.planners.kernel.jit import kernel
from throttling_sequencer.adapters.planners.kernel.rng import State, happens, integer, new_state, odds
from throttling_sequencer.adapters.planners.kernel.simulation import FloatArray, total_of

Genes = NDArray[np.int32]
Lengths = NDArray[np.int32]


@kernel
def _sort_into(
    genes: Genes,
    lengths: Lengths,
    scores: FloatArray,
    pool: Genes,
    pool_lengths: Lengths,
    pool_scores: FloatArray,
) -> None:
    """Write the pool into the population, best first; ties keep pool order (a stable sort)."""
    order = np.argsort(pool_scores, kind="mergesort")
    for i in range(order.shape[0]):
        j = order[i]
        n = pool_lengths[j]
        for t in range(n):  # loops, not slices: no array views to build in the hot path
            genes[i, t] = pool[j, t]
        lengths[i] = n
        scores[i] = pool_scores[j]


@kernel
def _seen(chosen: NDArray[np.int64], k: int) -> bool:
    """Whether chosen[k] is among chosen[:k]."""
    for i in range(k):  # noqa: SIM110 (a plain loop compiles to the tightest code)
        if chosen[i] == chosen[k]:
            return True
    return False


@kernel
def seed_population(
    genes: Genes,
    lengths: Lengths,
    scores: FloatArray,
    state: State,
    problem: FloatArray,
    weights: FloatArray,
    low: int,
    high: int,
) -> None:
    """Uniformly random plans: a length in [1, max_ticks], then each throttle in [low, high]."""
    size, max_ticks = genes.shape
    pool = np.empty_like(genes)
    pool_lengths = np.empty_like(lengths)
    pool_scores = np.empty_like(scores)
    for i in range(size):
        n = integer(state, 1, max_ticks)
        for t in range(n):
            pool[i, t] = integer(state, low, high)
        pool_lengths[i] = n
        pool_scores[i] = total_of(problem, weights, pool, i, n)
    _sort_into(genes, lengths, scores, pool, pool_lengths, pool_scores)


@kernel
def evolve(
    genes: Genes,
    lengths: Lengths,
    scores: FloatArray,
    state: State,
    problem: FloatArray,
    weights: FloatArray,
    low: int,
    high: int,
    elite_parents: int,
    random_parents: int,
    mutation_rate: float,
    generations: int,
) -> None:
    """Run `generations` generations on a sorted population, leaving it sorted.

    Parents: the `elite_parents` best and `random_parents` others drawn without replacement.
    Each child: one-point crossover a[:i] + b[j:] of two random parents (cut to max_ticks; an
    empty child gets one random throttle), each throttle re-drawn with probability
    `mutation_rate`, then with the same probability one throttle deleted (if more than one).
    """
    size, max_ticks = genes.shape
    elite = min(elite_parents, size)
    others = min(random_parents, size - elite)
    parents = elite + others
    pool = np.empty_like(genes)
    pool_lengths = np.empty_like(lengths)
    pool_scores = np.empty_like(scores)
    chosen = np.empty(others, dtype=np.int64)
    mutation = odds(mutation_rate)
    for _ in range(generations):
        # Parents first in the pool: the elite, then the random others.
        for k in range(others):
            chosen[k] = integer(state, elite, size - 1)
            while _seen(chosen, k):
                chosen[k] = integer(state, elite, size - 1)
        for k in range(parents):
            row = k if k < elite else chosen[k - elite]
            n = lengths[row]
            for t in range(n):
                pool[k, t] = genes[row, t]
            pool_lengths[k] = n
            pool_scores[k] = scores[row]
        for c in range(parents, size):
            a = integer(state, 0, parents - 1)
            b = integer(state, 0, parents - 1)
            length_b = int(pool_lengths[b])
            cut_a = integer(state, 0, int(pool_lengths[a]))
            cut_b = integer(state, 0, length_b)
            n = min(cut_a + length_b - cut_b, max_ticks)
            for t in range(cut_a):  # n >= cut_a: a's part always fits
                pool[c, t] = pool[a, t]
            for t in range(cut_a, n):
                pool[c, t] = pool[b, t - cut_a + cut_b]
            if n == 0:
                n = 1
                pool[c, 0] = integer(state, low, high)
            for t in range(n):
                if happens(state, mutation):
                    pool[c, t] = integer(state, low, high)
            if happens(state, mutation) and n > 1:
                gone = integer(state, 0, n - 1)
                for t in range(gone, n - 1):
                    pool[c, t] = pool[c, t + 1]
                n -= 1
            pool_lengths[c] = n
            pool_scores[c] = total_of(problem, weights, pool, c, n)
        _sort_into(genes, lengths, scores, pool, pool_lengths, pool_scores)


def warm_up() -> None:
    """Compile or load the kernels for the types the planner passes."""
    genes, lengths, scores = np.zeros((3, 2), dtype=np.int32), np.zeros(3, dtype=np.int32), np.zeros(3)
    problem, weights, state = np.ones(4), np.ones(5), new_state(0)
    seed_population(genes, lengths, scores, state, problem, weights, 0, 1)
    evolve(genes, lengths, scores, state, problem, weights, 0, 1, 1, 1, 0.1, 1)
