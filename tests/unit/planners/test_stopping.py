"""Planners stop promptly: timing-free, by counting stop-signal polls and the work between them.

The clock of these stop signals advances by one per poll, so "the deadline" is a poll number and
nothing depends on the machine's speed. How much a planner does between two polls is measured
by the memory it allocates meanwhile (tracemalloc sees numpy's buffers): a vectorised planner's
work is proportional to the cells of the arrays it builds. Wall-clock figures (a 1 ms budget with
max_ticks 1000) are in `make bench`, not here.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from tests.support import problem
from throttling_sequencer.adapters.planners.exact import ExactPlanner
from throttling_sequencer.adapters.planners.genetic import GeneticPlanner
from throttling_sequencer.adapters.planners.random_search import RandomPlanner
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem
from throttling_sequencer.domain.physics import score
from throttling_sequencer.domain.ports import Planner, StopSignal

#: Polls a planner may make after the first one that said stop (it may be nested a few loops deep).
POLLS_AFTER_THE_DEADLINE = 3
#: Most memory the exact planner may allocate between two polls with max_ticks 1000 (the
#: earlier planner built about 49 MB of N x N arrays before its first poll).
MAX_BYTES_BETWEEN_POLLS = 8_000_000

HARD = {
    "default payload": (problem(), PlannerConfig(max_ticks=1000)),
    "far": (problem(distance=200_000.0), PlannerConfig(max_ticks=1000)),
    "unreachable": (problem(distance=9e8, mass=50.0, friction=0.1), PlannerConfig(max_ticks=1000)),
    "tiny mass, wide throttle": (problem(mass=0.05), PlannerConfig(max_ticks=1000, max_throttle=10_000)),
    "frictionless": (problem(distance=50_000.0, friction=0.0), PlannerConfig(max_ticks=1000)),
    "friction near 1": (
        problem(distance=100.0, mass=1.0, friction=0.9961),
        PlannerConfig(
            speed_weight=0.01, length_weight=0.0, speed_threshold=0.0, max_throttle=10_000, max_ticks=1000
        ),
    ),
}


class CountingStop(StopSignal):
    """Says stop from poll number `deadline` + 1 on; records the bytes allocated between polls."""

    def __init__(self, deadline: int) -> None:
        self.polls = 0
        self.bytes_between_polls: list[int] = []
        super().__init__(deadline + 0.5, clock=self._tick)

    def _tick(self) -> float:
        self.polls += 1
        return float(self.polls)

    def should_stop(self) -> bool:
        if tracemalloc.is_tracing():
            self.bytes_between_polls.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.reset_peak()
        return super().should_stop()


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def check_plan(config: PlannerConfig, throttles: tuple[int, ...]) -> None:
    assert 1 <= len(throttles) <= config.max_ticks
    assert all(config.min_throttle <= u <= config.max_throttle for u in throttles)


@pytest.mark.parametrize(
    "planner", [ExactPlanner(), GeneticPlanner(), RandomPlanner()], ids=lambda p: p.strategy.value
)
@pytest.mark.parametrize("deadline", [0, 3])
@pytest.mark.parametrize(("p", "config"), HARD.values(), ids=HARD.keys())
def test_a_planner_stops_within_a_few_polls_of_its_deadline(
    planner: Planner, deadline: int, p: Problem, config: PlannerConfig
) -> None:
    stop = CountingStop(deadline)
    result = planner.plan(p, config, stop)
    check_plan(config, result.throttles)
    assert stop.polls <= deadline + 1 + POLLS_AFTER_THE_DEADLINE


@pytest.mark.parametrize("deadline", [0, 60])
@pytest.mark.parametrize(("p", "config"), HARD.values(), ids=HARD.keys())
def test_the_exact_planner_bounds_its_work_between_polls(
    traced: None, deadline: int, p: Problem, config: PlannerConfig
) -> None:
    """A 1 ms budget ends within one bounded step: no N x N relaxation runs without a poll."""
    stop = CountingStop(deadline)
    tracemalloc.reset_peak()
    result = ExactPlanner().plan(p, config, stop)
    after_last_poll = tracemalloc.get_traced_memory()[1]
    check_plan(config, result.throttles)
    assert stop.polls >= 1, "never polled its stop signal"
    largest = max([*stop.bytes_between_polls, after_last_poll])
    assert largest <= MAX_BYTES_BETWEEN_POLLS, f"{largest / 1e6:.1f} MB allocated between two polls"


def test_a_work_budget_stops_after_that_many_polls_and_repeats_its_plan() -> None:
    """Guidance re-plans use a budget in polls, not time: the same plan however busy the machine."""
    polls: list[int] = []

    class Counted(StopSignal):
        def should_stop(self) -> bool:
            stop = super().should_stop()
            polls.append(int(stop))
            return stop

    state, config = problem(), PlannerConfig(max_ticks=100)
    plans = [ExactPlanner().plan(state, config, Counted(float("inf"), work=2)).throttles for _ in range(2)]
    assert plans[0] == plans[1]
    assert polls[:3] == [0, 0, 1] and len(polls) <= 2 * (3 + POLLS_AFTER_THE_DEADLINE)
    unbounded = ExactPlanner().plan(state, config, StopSignal(float("inf")))
    cut = ExactPlanner().plan(state, config, StopSignal(float("inf"), work=0))
    # The budget did stop it early: before tuning its first candidate.
    assert score(state, config, cut.throttles).total > score(state, config, unbounded.throttles).total
