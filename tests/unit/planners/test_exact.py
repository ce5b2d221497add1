"""The exact strategy: valid plans, a bound that never exceeds the score, optimal on references."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference_milp import optimum
from tests.support import problem
from throttling_sequencer.adapters.planners.exact import ExactPlanner
from throttling_sequencer.adapters.planners.genetic import GeneticParameters, GeneticPlanner
from throttling_sequencer.adapters.planners.random_search import RandomPlanner
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem
from throttling_sequencer.domain.physics import score
from throttling_sequencer.domain.ports import StopSignal

# Mostly reachable targets: uniform draws would be ~80 % unreachable (the easy regime).
problems = st.builds(
    Problem,
    distance=st.floats(0.0, 20_000.0),
    initial_speed=st.floats(0.0, 20.0),
    mass=st.floats(0.5, 100.0),
    friction=st.one_of(st.just(0.0), st.floats(0.0, 0.5), st.just(0.999)),
)
configs = st.builds(
    PlannerConfig,
    distance_weight=st.sampled_from([1.0, 0.1, 5.0]),
    speed_weight=st.sampled_from([0.5, 0.0, 3.0]),
    length_weight=st.sampled_from([0.01, 0.0, 1.0]),
    nonzero_weight=st.sampled_from([0.01, 0.0, 1.0]),
    speed_threshold=st.sampled_from([5.0, 0.0, 50.0]),
    min_throttle=st.sampled_from([0, 0, 20]),
    max_throttle=st.sampled_from([300, 300, 20, 1000]),
    max_ticks=st.sampled_from([100, 100, 1, 7, 250]),
)


def plan(p: Problem, config: PlannerConfig) -> tuple[float, float]:
    result = ExactPlanner().plan(p, config, StopSignal(time.monotonic() + 60))
    assert 1 <= len(result.throttles) <= config.max_ticks
    assert all(config.min_throttle <= u <= config.max_throttle for u in result.throttles)
    assert result.lower_bound is not None
    return score(p, config, result.throttles).total, result.lower_bound


@settings(max_examples=150, deadline=None)
@given(problems, configs)
def test_plans_are_valid_and_the_bound_never_exceeds_the_score(p: Problem, config: PlannerConfig) -> None:
    if config.min_throttle > config.max_throttle:
        config = PlannerConfig(min_throttle=0, max_throttle=config.max_throttle)
    total, bound = plan(p, config)
    assert bound <= total + 1e-9


@settings(max_examples=25, deadline=None)
@given(problems)
def test_exact_is_never_worse_than_the_heuristics(p: Problem) -> None:
    config = PlannerConfig(seed=1)
    total, _ = plan(p, config)
    no_deadline = StopSignal(time.monotonic() + 60)
    genetic = GeneticPlanner(GeneticParameters(generations=30)).plan(p, config, no_deadline)
    sampled = RandomPlanner(samples=300).plan(p, config, no_deadline)
    assert total <= score(p, config, genetic.throttles).total + 1e-9
    assert total <= score(p, config, sampled.throttles).total + 1e-9


REFERENCE_CASES = {
    "stops short of a near target": (problem(distance=300.0, speed=2.0, mass=20.0, friction=0.2), 12),
    "speed-limited, low friction": (problem(distance=2000.0, mass=10.0, friction=0.01), 8),
    "unreachable": (problem(distance=90_000.0, mass=50.0, friction=0.1), 6),
    "already too fast": (problem(distance=10.0, speed=40.0, friction=0.1), 5),
    "frictionless": (problem(distance=777.0, speed=1.0, mass=35.0, friction=0.0), 10),
    "heavy and slippery": (problem(distance=1500.0, speed=5.0, mass=90.0, friction=0.05), 10),
}


@pytest.mark.parametrize(("p", "max_ticks"), REFERENCE_CASES.values(), ids=REFERENCE_CASES.keys())
def test_exact_matches_the_milp_optimum(p: Problem, max_ticks: int) -> None:
    config = PlannerConfig(max_ticks=max_ticks)
    total, bound = plan(p, config)
    best = optimum(p, config)
    assert bound <= best + 1e-9
    assert total == pytest.approx(best, abs=1e-6)


EDGES = {
    "target at distance 0": problem(distance=0.0),
    "target at distance 0, moving": problem(distance=0.0, speed=3.0),
    "frictionless": problem(distance=5000.0, friction=0.0),
    "friction near 1": problem(distance=50.0, friction=0.999),
    "tiny mass": problem(distance=5000.0, mass=1e-6),
    "huge mass": problem(distance=5000.0, mass=1e9),
    "initial speed above the threshold": problem(distance=800.0, speed=60.0, friction=0.05),
}


@pytest.mark.parametrize("p", EDGES.values(), ids=EDGES.keys())
def test_edge_cases_are_answered(p: Problem) -> None:
    total, bound = plan(p, PlannerConfig())
    assert bound <= total + 1e-9


def test_a_fixed_throttle_range_still_plans() -> None:
    total, bound = plan(problem(distance=400.0), PlannerConfig(min_throttle=50, max_throttle=50))
    assert bound <= total + 1e-9
