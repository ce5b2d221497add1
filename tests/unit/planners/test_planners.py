"""Strategies: bounds respected, deterministic under a seed, prompt to stop."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import problem
from throttling_sequencer.adapters.planners.exact import ExactPlanner
from throttling_sequencer.adapters.planners.genetic import GeneticParameters, GeneticPlanner
from throttling_sequencer.adapters.planners.random_search import RandomPlanner
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.physics import score
from throttling_sequencer.domain.ports import Improvement, Planner, StopSignal

SMALL_GA = GeneticParameters(population=40, generations=5, elite_parents=6, random_parents=4)


class Improvements(list[Improvement]):
    """A progress sink that keeps what it is told."""

    def improved(self, improvement: Improvement) -> None:
        self.append(improvement)


def no_deadline() -> StopSignal:
    return StopSignal(time.monotonic() + 60)


def planners() -> list[Planner]:
    return [ExactPlanner(), GeneticPlanner(SMALL_GA), RandomPlanner(samples=50)]


@pytest.mark.parametrize("planner", planners(), ids=lambda p: p.strategy.value)
@settings(max_examples=25, deadline=None)
@given(
    low=st.integers(0, 50),
    span=st.integers(0, 400),
    max_ticks=st.integers(1, 40),
    seed=st.integers(0, 2**32),
)
def test_plans_stay_within_the_configured_bounds(
    planner: Planner, low: int, span: int, max_ticks: int, seed: int
) -> None:
    config = PlannerConfig(min_throttle=low, max_throttle=max(1, low + span), max_ticks=max_ticks, seed=seed)
    result = planner.plan(problem(), config, no_deadline())
    assert 1 <= len(result.throttles) <= max_ticks
    assert all(config.min_throttle <= u <= config.max_throttle for u in result.throttles)


@pytest.mark.parametrize("planner", planners(), ids=lambda p: p.strategy.value)
def test_same_seed_same_plan(planner: Planner) -> None:
    config = PlannerConfig(seed=42)
    first = planner.plan(problem(), config, no_deadline())
    second = planner.plan(problem(), config, no_deadline())
    assert first.throttles == second.throttles


def test_genetic_search_improves_on_its_first_generation() -> None:
    config = PlannerConfig(seed=7)
    p = problem()
    initial = GeneticPlanner(GeneticParameters(generations=0)).plan(p, config, no_deadline())
    evolved = GeneticPlanner(GeneticParameters(generations=30)).plan(p, config, no_deadline())
    assert evolved.iterations == 30
    assert score(p, config, evolved.throttles).total < score(p, config, initial.throttles).total


@pytest.mark.parametrize(
    "planner", [GeneticPlanner(), RandomPlanner(samples=10**9)], ids=["genetic", "random"]
)
def test_a_cancelled_planner_still_returns_a_plan(planner: Planner) -> None:
    stop = no_deadline()
    stop.cancel()
    result = planner.plan(problem(), PlannerConfig(seed=1), stop)
    assert len(result.throttles) >= 1
    assert result.iterations <= 1


def counting_stop(checks: int) -> StopSignal:
    """A StopSignal whose clock advances one unit per look: it stops at the `checks`-th check."""
    ticks = itertools.count()
    return StopSignal(float(checks), clock=lambda: float(next(ticks)))


@pytest.mark.parametrize(
    ("planner", "total"),
    [(GeneticPlanner(), GeneticParameters().generations), (RandomPlanner(samples=10**9), 10**9)],
    ids=["genetic", "random"],
)
def test_the_compiled_search_checks_its_stop_signal_between_slices(planner: Planner, total: int) -> None:
    result = planner.plan(problem(), PlannerConfig(seed=1), counting_stop(4))
    assert 0 < result.iterations < total


def test_genetic_reports_each_improvement_in_order() -> None:
    seen = Improvements()
    config = PlannerConfig(seed=5)
    result = GeneticPlanner(GeneticParameters(generations=40)).plan(problem(), config, no_deadline(), seen)
    totals = [score(problem(), config, found.throttles).total for found in seen]
    assert totals == sorted(totals, reverse=True)
    assert seen[-1].throttles == result.throttles


@pytest.mark.parametrize("planner", planners(), ids=lambda p: p.strategy.value)
def test_a_plan_comes_back_when_no_score_is_a_number(planner: Planner) -> None:
    """A mass of 1e-306 overflows the speed to infinity and 0 * inf is NaN: no plan compares better.

    The service refuses such a mass (its physics overflows); a planner still must not raise.
    """
    config = PlannerConfig(distance_weight=0.0, min_throttle=5_000, max_throttle=10_000, max_ticks=5, seed=2)
    result = planner.plan(problem(mass=1e-306, friction=0.0), config, no_deadline())
    assert 1 <= len(result.throttles) <= config.max_ticks
