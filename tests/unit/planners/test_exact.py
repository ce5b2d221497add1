"""The exact strategy: valid plans and a bound below their score on any input, edge inputs answered,
prompt stops with an honest bound, progress in order, and the kernel's score bit for bit.

Comparisons with the reference MILP are in test_exact_oracle.py, the scenario sets in
test_exact_scenarios.py.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference_milp import reference
from tests.support import problem
from tests.unit.planners.exact_support import extreme_configs, proof_configs, run, tolerance
from throttling_sequencer.adapters.planners.exact import SLICE_WORK, ExactPlanner
from throttling_sequencer.adapters.planners.genetic import GeneticParameters, GeneticPlanner
from throttling_sequencer.adapters.planners.kernel import exact as kernel
from throttling_sequencer.adapters.planners.kernel.exact import Search, kernel_params
from throttling_sequencer.adapters.planners.random_search import RandomPlanner
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem
from throttling_sequencer.domain.physics import OPTIMALITY_TOLERANCE as TOLERANCE
from throttling_sequencer.domain.physics import score
from throttling_sequencer.domain.ports import Improvement, StopSignal

# Any valid input, including the largest limits: a valid plan and a bound below its score.
problems = st.builds(
    Problem,
    distance=st.one_of(st.floats(0.0, 20_000.0), st.floats(0.0, 3e9)),
    initial_speed=st.one_of(st.floats(0.0, 20.0), st.floats(0.0, 1e9)),
    mass=st.one_of(st.floats(0.5, 100.0), st.floats(1e-6, 1e12)),
    friction=st.one_of(st.just(0.0), st.floats(0.0, 0.5), st.floats(0.9, 0.999999)),
)
configs = st.builds(
    PlannerConfig,
    distance_weight=st.sampled_from([1.0, 0.1, 5.0, 1e6, 0.0]),
    speed_weight=st.sampled_from([0.5, 0.0, 3.0, 1e6]),
    length_weight=st.sampled_from([0.01, 0.0, 1.0]),
    nonzero_weight=st.sampled_from([0.01, 0.0, 1.0]),
    speed_threshold=st.sampled_from([5.0, 0.0, 50.0, 1e6]),
    min_throttle=st.sampled_from([0, 0, 20]),
    max_throttle=st.sampled_from([300, 300, 20, 1000, 10_000]),
    max_ticks=st.sampled_from([100, 100, 1, 7, 250, 1000]),
)


@settings(max_examples=60, deadline=None)
@given(problems, configs)
def test_plans_are_valid_and_the_bound_never_exceeds_the_score(p: Problem, config: PlannerConfig) -> None:
    if config.min_throttle > config.max_throttle:
        config = PlannerConfig(min_throttle=0, max_throttle=config.max_throttle, max_ticks=config.max_ticks)
    result, total = run(p, config, seconds=0.05)
    if result.proven_optimal:
        assert result.lower_bound is not None
        assert total - result.lower_bound <= tolerance(total)


@settings(max_examples=5, deadline=None)
@given(
    st.builds(
        Problem, st.floats(0.0, 20_000.0), st.floats(0.0, 20.0), st.floats(0.5, 100.0), st.floats(0.0, 0.5)
    )
)
def test_exact_is_never_worse_than_the_heuristics(p: Problem) -> None:
    config = PlannerConfig(seed=1)
    _, total = run(p, config)
    no_deadline = StopSignal(time.monotonic() + 60)
    genetic = GeneticPlanner(GeneticParameters(generations=10)).plan(p, config, no_deadline)
    sampled = RandomPlanner(samples=300).plan(p, config, no_deadline)
    assert total <= score(p, config, genetic.throttles).total + 1e-9
    assert total <= score(p, config, sampled.throttles).total + 1e-9


EDGES = {
    "target at distance 0": (problem(distance=0.0), PlannerConfig()),
    "target at distance 0, moving": (problem(distance=0.0, speed=3.0), PlannerConfig()),
    "frictionless": (problem(distance=5000.0, friction=0.0), PlannerConfig()),
    "friction near 1": (problem(distance=50.0, friction=0.999), PlannerConfig()),
    "tiny mass": (problem(distance=5000.0, mass=1e-6), PlannerConfig()),
    "huge mass": (problem(distance=5000.0, mass=1e9), PlannerConfig()),
    "initial speed above the threshold": (
        problem(distance=800.0, speed=60.0, friction=0.05),
        PlannerConfig(),
    ),
    "a fixed throttle": (problem(distance=400.0), PlannerConfig(min_throttle=50, max_throttle=50)),
    # Raised ZeroDivisionError in the earlier planner.
    "friction 0.9961, free length": (
        problem(distance=100.0, mass=1.0, friction=0.9961),
        PlannerConfig(
            speed_weight=0.01, length_weight=0.0, speed_threshold=0.0, max_throttle=10_000, max_ticks=200
        ),
    ),
    "largest limits": (
        problem(distance=3e9, speed=1e9, mass=1e-3),
        PlannerConfig(max_ticks=1000, max_throttle=10_000),
    ),
    "vanishing mass": (problem(distance=10.0, mass=1e-310), PlannerConfig()),
}


@pytest.mark.parametrize(("p", "config"), EDGES.values(), ids=EDGES.keys())
def test_edge_cases_are_answered(p: Problem, config: PlannerConfig) -> None:
    run(p, config, seconds=0.2)


#: Edge inputs the service accepts (each passes the edge's validation; see
#: tests/integration/test_planning_edge_inputs.py for the same through a real server).
PROVEN_EDGES = {
    "distance weight 0": (problem(), PlannerConfig(distance_weight=0.0)),
    "min throttle 5000": (problem(), PlannerConfig(min_throttle=5000, max_throttle=10_000)),
    "friction 0.9961, subnormal powers": (
        problem(distance=10.0, mass=1.0, friction=0.9961),
        PlannerConfig(speed_weight=0.01, length_weight=0.0, speed_threshold=0.0, max_ticks=200),
    ),
}


@pytest.mark.parametrize(("p", "config"), PROVEN_EDGES.values(), ids=PROVEN_EDGES.keys())
def test_edge_inputs_are_proven(p: Problem, config: PlannerConfig) -> None:
    result, total = run(p, config)
    assert result.proven_optimal
    assert result.lower_bound is not None
    assert total - result.lower_bound <= tolerance(total)


def test_magnitudes_past_the_kernels_range_get_the_best_simple_plan_without_a_claim() -> None:
    """Mass 1e-306 with one tick of throttle 0..1: valid (every score is finite), but one unit of
    throttle moves the unit 1e306, past what the kernel's arithmetic can bound."""
    p, config = problem(distance=10.0, mass=1e-306), PlannerConfig(max_throttle=1, max_ticks=1)
    result, _ = run(p, config)
    assert result.throttles == (0,)
    assert not result.proven_optimal
    assert result.lower_bound == 0.0


def test_a_1_ms_budget_at_1000_ticks_answers_with_an_honest_bound() -> None:
    p, config = problem(), PlannerConfig(max_ticks=1000, time_budget_ms=1)
    result, total = run(p, config, seconds=config.time_budget_seconds)
    assert result.lower_bound is not None
    assert result.proven_optimal == (total - result.lower_bound <= tolerance(total))


def test_the_zero_division_case_is_proven() -> None:
    p = problem(distance=100.0, mass=1.0, friction=0.9961)
    config = PlannerConfig(
        speed_weight=0.01, length_weight=0.0, speed_threshold=0.0, max_throttle=10_000, max_ticks=200
    )
    result, _ = run(p, config)
    assert result.proven_optimal


class CountingStop(StopSignal):
    """Says stop after `polls` calls of should_stop(); counts them."""

    def __init__(self, polls: int) -> None:
        super().__init__(math.inf)
        self.allowed = polls
        self.polls = 0

    def should_stop(self) -> bool:
        self.polls += 1
        return self.polls > self.allowed


#: Free length and count with the largest limits: the search never finishes.
HARD_TO_PROVE = (
    problem(distance=5000.0, mass=10.0, friction=0.01),
    PlannerConfig(max_ticks=1000, max_throttle=10_000, length_weight=0.0, nonzero_weight=0.0),
)


@pytest.mark.parametrize("allowed", [0, 1, 5])
def test_the_planner_stops_at_the_first_poll_that_says_so(allowed: int) -> None:
    p, config = HARD_TO_PROVE
    stop = CountingStop(allowed)
    result = ExactPlanner().plan(p, config, stop)
    assert stop.polls == allowed + 1
    assert not result.proven_optimal
    assert result.lower_bound is not None
    assert result.lower_bound <= score(p, config, result.throttles).total


def test_a_cancelled_planner_still_returns_a_plan() -> None:
    p, config = HARD_TO_PROVE
    stop = StopSignal(math.inf)
    stop.cancel()
    result = ExactPlanner().plan(p, config, stop)
    assert 1 <= len(result.throttles) <= config.max_ticks
    assert not result.proven_optimal


def test_each_slice_of_the_kernel_is_bounded() -> None:
    """Between two polls the kernel does at most one slice of work plus one indivisible step."""
    p, config = HARD_TO_PROVE
    search = Search.start(p, config, TOLERANCE)
    previous = int(search.state_i[kernel.S_WORK])
    for _ in range(200):
        search.step(SLICE_WORK)
        done = int(search.state_i[kernel.S_WORK])
        assert done - previous <= SLICE_WORK + kernel.MAX_STEP_WORK
        previous = done


def test_a_stopped_search_reports_an_honest_bound() -> None:
    """Stopped early, the bound is still below the optimum and the plan is not claimed optimal."""
    # A public scenario ("reach29") cut to 12 ticks: the first slice does not finish it.
    p = problem(
        distance=1294.8232869406613, speed=6.165776345526604, mass=13.213376927828017, friction=0.19707
    )
    config = PlannerConfig(max_ticks=12)
    result = ExactPlanner().plan(p, config, CountingStop(0))
    ref = reference(p, config)
    assert result.lower_bound is not None
    assert result.lower_bound <= ref.optimum
    total = score(p, config, result.throttles).total
    assert result.proven_optimal == (total - result.lower_bound <= tolerance(total))


def test_progress_reports_each_improvement_in_order() -> None:
    seen: list[tuple[tuple[int, ...], float | None]] = []

    class Sink:
        def improved(self, improvement: Improvement) -> None:
            seen.append((improvement.throttles, improvement.lower_bound))

    p = problem(
        distance=5787.17593479702, speed=9.583127424562939, mass=11.959577027396675, friction=0.0507752
    )
    config = PlannerConfig()
    result = ExactPlanner().plan(p, config, StopSignal(time.monotonic() + 60), Sink())
    totals = [score(p, config, plan).total for plan, _ in seen]
    assert totals == sorted(totals, reverse=True)
    assert seen[-1][0] == result.throttles
    assert all(bound is not None and bound <= totals[-1] for _, bound in seen)


plans = st.lists(st.integers(0, 10_000), min_size=1, max_size=60)
units = st.builds(
    Problem,
    distance=st.floats(0.0, 3e9),
    initial_speed=st.floats(0.0, 1e9),
    mass=st.floats(1e-6, 1e12),
    friction=st.one_of(st.just(0.0), st.floats(0.0, 0.999999)),
)


@settings(max_examples=200, deadline=None)
@given(units, plans, st.one_of(proof_configs(st.integers(1, 100)), extreme_configs(st.integers(1, 100))))
def test_the_kernel_scores_like_the_domain(p: Problem, throttles: list[int], config: PlannerConfig) -> None:
    """The score the search compares plans by is the physics' score, bit for bit."""
    params = kernel_params(p, config, TOLERANCE)
    total = kernel.score_plan(params, np.array(throttles, dtype=np.int64), len(throttles))
    assert total == score(p, config, throttles).total
