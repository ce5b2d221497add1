"""Closed-loop guidance as pure logic: follow, learn friction, re-plan, and the protocol's order."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from throttling_sequencer.adapters.planners.exact import ExactPlanner
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.errors import SessionOutOfOrder
from throttling_sequencer.domain.guidance import (
    HEADROOM,
    FrictionEstimate,
    Guidance,
    Observation,
)
from throttling_sequencer.domain.model import Arrival, Coordinate, Problem
from throttling_sequencer.domain.physics import simulate
from throttling_sequencer.domain.ports import StopSignal

ORIGIN, TARGET = Coordinate(100.0, 200.0), Coordinate(400.0, 600.0)  # 500 apart, on a diagonal
PROBLEM = Problem(distance=500.0, initial_speed=2.0, mass=10.0, friction=0.1)
CONFIG = PlannerConfig(max_ticks=30)
#: Pushes, then coasts: arrives exactly (within rounding) under PROBLEM's physics.
PLAN = (300, 300, 300, 0, 0)


def at(remaining: float) -> Coordinate:
    """The point `remaining` before the target on the start-to-target line."""
    along = (500.0 - remaining) / 500.0
    return Coordinate(ORIGIN.x + 300.0 * along, ORIGIN.y + 400.0 * along)


def guidance(plan: tuple[int, ...] = PLAN, problem: Problem = PROBLEM) -> Guidance:
    return Guidance(problem, CONFIG, plan, ORIGIN, TARGET)


def exact(tick: int, plan: tuple[int, ...] = PLAN, problem: Problem = PROBLEM) -> Observation:
    """What the model predicts after `tick` (1-based), as an observation."""
    state = list(simulate(problem, plan))[tick - 1]
    return Observation(tick, at(problem.distance - state.distance_covered), state.speed)


def test_an_undisturbed_unit_follows_its_plan_to_the_end() -> None:
    g = guidance()
    ticks = [g.first_tick()]
    while True:
        assert g.observe(exact(ticks[-1].tick)) is None
        if g.finished:
            break
        ticks.append(g.next_tick())
    assert [t.throttle for t in ticks] == list(PLAN)
    assert [t.tick for t in ticks] == [1, 2, 3, 4, 5]
    assert [t.done for t in ticks] == [False] * 4 + [True]
    assert not any(t.replanned for t in ticks)
    expected = list(simulate(PROBLEM, PLAN))
    assert [t.speed for t in ticks] == pytest.approx([s.speed for s in expected])
    assert [t.distance_remaining for t in ticks] == pytest.approx(
        [500 - s.distance_covered for s in expected]
    )
    summary = g.summary()
    assert (summary.ticks, summary.replans, summary.completed) == (5, 0, True)
    assert summary.final_speed == pytest.approx(expected[-1].speed)


def test_drift_asks_for_a_plan_from_the_observed_state_with_the_ticks_left() -> None:
    g = guidance()
    g.first_tick()
    observed = Observation(1, at(450.0), 25.0)  # the model said about 28.8 and 471.2 left
    replan = g.observe(observed)
    assert replan is not None
    assert replan.problem == Problem(450.0, 25.0, 10.0, g.friction.value)
    assert replan.config.max_ticks == CONFIG.max_ticks - 1
    assert replan.config.speed_threshold == CONFIG.speed_threshold * (1 - HEADROOM)
    assert replan.incumbent == PLAN[1:]  # the warm start: the rest of the current plan
    tick = g.next_tick((300, 0, 0))
    assert tick.replanned and tick.tick == 2 and tick.throttle == 300
    keep = 1 - g.friction.value
    assert tick.speed == pytest.approx((25.0 + 300 / 10.0) * keep)
    assert tick.distance_remaining == pytest.approx(450.0 - tick.speed)
    assert g.replans == 1


def test_a_re_plan_keeps_the_current_plan_when_the_new_one_is_no_better() -> None:
    g = guidance()
    g.first_tick()
    replan = g.observe(Observation(1, at(450.0), 25.0))
    assert replan is not None
    tick = g.next_tick((0,))  # far worse than the rest of the current plan
    assert tick.throttle == PLAN[1] and tick.replanned


def test_small_deviations_are_followed_not_re_planned() -> None:
    g = guidance()
    first = g.first_tick()
    assert g.observe(Observation(1, at(first.distance_remaining + 0.01), first.speed + 0.005)) is None
    assert not g.next_tick().replanned


def test_friction_is_learnt_and_one_push_does_not_spoil_it() -> None:
    estimate = FrictionEstimate(nominal=0.1)
    speed = 0.0
    for tick in range(8):
        pushed = speed + 300 / 10.0
        speed = pushed * (1 - 0.125)
        if tick == 3:
            speed *= 1.6  # a shove: one wild sample
        estimate.add(pushed - 300 / 10.0, 300, 10.0, speed)
    assert estimate.samples == 8
    assert estimate.value == pytest.approx(0.125)


def test_the_friction_estimate_stays_within_what_a_plan_accepts() -> None:
    high, low = FrictionEstimate(0.9), FrictionEstimate(0.0)
    for _ in range(3):
        high.add(10.0, 0, 1.0, 0.0)  # a unit stopped dead every tick: "friction 1"
        low.add(10.0, 0, 1.0, 20.0)  # a unit that speeds up by itself
    assert high.value < 1.0 and low.value == 0.0
    stopped = FrictionEstimate(0.2)
    stopped.add(0.0, 0, 1.0, 0.0)  # nothing moved: nothing learnt
    assert stopped.samples == 0 and stopped.value == 0.2


def test_a_unit_that_passed_the_target_coasts_and_the_session_ends() -> None:
    g = guidance()
    g.first_tick()
    assert g.observe(Observation(1, at(-3.0), 40.0)) is None  # shoved past the target
    tick = g.next_tick()
    assert (tick.throttle, tick.done, tick.replanned) == (0, True, True)
    assert tick.arrival == Arrival.OVERSHOOT_UNAVOIDABLE and tick.distance_remaining < -3.0
    assert g.observe(Observation(2, at(-40.0), 36.0)) is None and g.finished
    assert g.summary().final_miss == pytest.approx(-40.0)


def test_a_stopped_unit_is_planned_again_from_a_standstill() -> None:
    g = guidance()
    g.first_tick()
    g.observe(exact(1))
    g.next_tick()
    replan = g.observe(Observation(2, at(420.0), 0.0))  # hit a wall
    assert replan is not None and replan.problem.initial_speed == 0.0
    assert g.friction.value == pytest.approx(0.1)  # the collision is one sample against two


def test_a_unit_that_can_no_longer_arrive_gets_its_best_effort() -> None:
    g = Guidance(PROBLEM, replace(CONFIG, max_ticks=6), PLAN, ORIGIN, TARGET)
    g.first_tick()
    replan = g.observe(Observation(1, at(499.0), 0.0))  # stuck at the start
    assert replan is not None and replan.config.max_ticks == 5
    best_effort = (300,) * replan.config.max_ticks
    tick = g.next_tick(best_effort)
    assert tick.throttle == 300 and tick.arrival == Arrival.UNREACHABLE


def test_remaining_distance_is_signed_along_the_start_to_target_line() -> None:
    g = guidance()
    assert g.remaining(ORIGIN) == pytest.approx(500.0)
    assert g.remaining(TARGET) == pytest.approx(0.0)
    assert g.remaining(at(-10.0)) == pytest.approx(-10.0)
    sideways = Coordinate(at(100.0).x + 40.0, at(100.0).y - 30.0)  # off the line, not along it
    assert g.remaining(sideways) == pytest.approx(100.0)
    here = Guidance(replace(PROBLEM, distance=0.0), CONFIG, (0,), TARGET, TARGET)
    assert here.remaining(Coordinate(TARGET.x + 3.0, TARGET.y + 4.0)) == -5.0  # any move is past it


@pytest.mark.parametrize("tick", [0, 2, 7])
def test_an_observation_of_another_tick_is_out_of_order(tick: int) -> None:
    g = guidance()
    g.first_tick()
    with pytest.raises(SessionOutOfOrder, match=f"expected the observation of tick 1, got tick {tick}"):
        g.observe(Observation(tick, ORIGIN, 0.0))


def test_no_observation_is_expected_after_the_last_tick() -> None:
    g = guidance(plan=(300,))
    assert g.first_tick().done
    g.observe(exact(1, plan=(300,)))
    assert g.finished
    with pytest.raises(SessionOutOfOrder, match="finished"):
        g.observe(exact(1, plan=(300,)))


def test_a_friction_off_by_a_quarter_is_steered_home() -> None:
    """The session's point, without a server: the real friction is 25 % above the model's."""
    real = replace(PROBLEM, friction=0.125)
    planner = ExactPlanner()
    initial = planner.plan(PROBLEM, CONFIG, StopSignal(math.inf)).throttles
    g = guidance(plan=initial)
    tick = g.first_tick()
    covered, speed = 0.0, PROBLEM.initial_speed
    while True:
        speed = (speed + tick.throttle / real.mass) * (1 - real.friction)
        covered += speed
        replan = g.observe(Observation(tick.tick, at(500.0 - covered), speed))
        if g.finished:
            break
        planned = (
            None if replan is None else planner.plan(replan.problem, replan.config, StopSignal(math.inf))
        )
        tick = g.next_tick(None if planned is None else planned.throttles)
    assert g.replans >= 1 and g.friction.value == pytest.approx(0.125)
    assert abs(500.0 - covered) <= 1.0 and speed <= CONFIG.speed_threshold
    # The plan followed open-loop under the real friction falls well short.
    open_loop = list(simulate(real, initial))[-1].distance_covered
    assert 500.0 - open_loop > 10.0
