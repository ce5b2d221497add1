"""The compiled generation loop: a valid sorted population scored by the reference, slicing-proof."""

from __future__ import annotations

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

from tests.support import problem
from throttling_sequencer.adapters.planners.kernel import genetic, rng, simulation
from throttling_sequencer.adapters.planners.kernel.warm import kernel_modules
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.physics import score

CONFIG = PlannerConfig(min_throttle=3, max_throttle=40, max_ticks=25)
PROBLEM = problem(distance=700.0, speed=3.0, mass=7.0, friction=0.05)
Population = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def seeded(seed: int, size: int = 60) -> Population:
    genes = np.zeros((size, CONFIG.max_ticks), dtype=np.int32)
    lengths, scores, state = np.zeros(size, dtype=np.int32), np.zeros(size), rng.new_state(seed)
    low, high = CONFIG.min_throttle, CONFIG.max_throttle
    genetic.seed_population(genes, lengths, scores, state, *arrays(), low, high)
    return genes, lengths, scores, state


def arrays() -> tuple[np.ndarray, np.ndarray]:
    return simulation.problem_array(PROBLEM), simulation.weights_array(CONFIG)


def evolve(population: Population, generations: int) -> None:
    low, high = CONFIG.min_throttle, CONFIG.max_throttle
    genetic.evolve(*population, *arrays(), low, high, 6, 4, 0.1, generations)


@pytest.mark.parametrize("generations", [0, 1, 30])
def test_population_stays_sorted_valid_and_scored_by_the_reference(generations: int) -> None:
    population = seeded(11)
    evolve(population, generations)
    genes, lengths, scores, _ = population
    assert list(scores) == sorted(scores)
    for row, n, total in zip(genes, lengths, scores, strict=True):
        plan = [int(u) for u in row[:n]]
        assert 1 <= n <= CONFIG.max_ticks
        assert all(CONFIG.min_throttle <= u <= CONFIG.max_throttle for u in plan)
        assert total == score(PROBLEM, CONFIG, plan).total


def test_evolution_improves_on_the_first_generation() -> None:
    population = seeded(5)
    first = population[2][0]
    evolve(population, 30)
    assert population[2][0] < first


def test_slicing_the_generations_does_not_change_the_result() -> None:
    whole, sliced = seeded(3), seeded(3)
    evolve(whole, 12)
    for count in (1, 2, 4, 5):
        evolve(sliced, count)
    (genes, lengths, scores, state), (genes2, lengths2, scores2, state2) = whole, sliced
    assert np.array_equal(lengths, lengths2) and np.array_equal(scores, scores2)
    assert np.array_equal(state, state2)
    assert all(np.array_equal(a[:n], b[:n]) for a, b, n in zip(genes, genes2, lengths, strict=True))


def test_different_seeds_draw_different_populations() -> None:
    assert not np.array_equal(seeded(1)[2], seeded(2)[2])


def test_every_kernel_releases_the_gil_and_caches_to_disk() -> None:
    """Planner threads run in parallel only if kernels drop the GIL; requests never compile if cached."""
    import importlib

    found = [
        value
        for name in kernel_modules()
        for value in vars(importlib.import_module(name)).values()
        if isinstance(value, CPUDispatcher)
    ]
    assert len(found) >= 10
    for dispatcher in found:
        assert dispatcher.targetoptions.get("nogil") is True, dispatcher
        assert dispatcher.stats.cache_path is not None, dispatcher  # None: cache=False
