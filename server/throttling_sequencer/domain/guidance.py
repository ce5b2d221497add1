"""Closed-loop guidance: steer a unit tick by tick from what really happened to it.

A plan is open-loop: it trusts the model's friction and that nothing pushes the unit. A guidance
session follows a plan while the unit's observed state matches the plan's prediction, learns
the unit's effective friction from consecutive observations, and asks for a new plan from the
observed state when they drift apart. Pure logic: planning itself is the caller's (the service
runs the planners), so a session is deterministic given its plans.

Distances are measured along the start-to-target line and signed: negative once the unit has
passed the target (throttle only pushes forward, so nothing brings it back).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.errors import SessionOutOfOrder
from throttling_sequencer.domain.model import Arrival, Coordinate, GuidanceSummary, Problem
from throttling_sequencer.domain.physics import assess, score

#: A drift from the prediction larger than this (distance units, or speed) asks for a new plan.
#: Deviations below it are compared cumulatively against the plan's own prediction, so they
#: cannot pile up unseen: the final miss stays within about this much of the plan's.
DRIFT_DISTANCE = 0.05
DRIFT_SPEED = 0.01
#: Re-plans aim this fraction of the speed threshold below it. Throttle cannot brake: a push
#: that adds speed once the unit coasts can only be absorbed by arriving slower than allowed.
#: (Over the disturbed public scenarios, tests/integration/test_guide_scenarios.py, half the
#: threshold raised arrivals from 78.6 % to 92.7 %, for about 4 more ticks per run.) An
#: undisturbed unit is never re-planned, so it keeps the optimal plan.
HEADROOM = 0.5
#: Friction samples kept: the last this many ticks (terrain may change what the unit feels).
FRICTION_WINDOW = 25
#: Friction estimates are kept in [0, this]: a plan needs friction below 1.
MAX_FRICTION = 0.99
#: A tick whose speed before friction was below this tells nothing about friction.
MIN_SAMPLE_SPEED = 1e-9


@dataclass(frozen=True, slots=True)
class Observation:
    """The unit's real state after it applied the throttle of `tick`."""

    tick: int
    coordinate: Coordinate
    speed: float


@dataclass(frozen=True, slots=True)
class GuideTick:
    """What the unit is told for one tick, and what the current plan predicts after it."""

    tick: int
    throttle: int
    replanned: bool
    #: Predicted speed after the tick.
    speed: float
    #: Predicted distance left after the tick, along the start-to-target line (signed).
    distance_remaining: float
    #: The last tick: no more throttles follow.
    done: bool
    estimated_friction: float
    #: What the plan being followed expects to achieve.
    arrival: Arrival


@dataclass(frozen=True, slots=True)
class Replan:
    """A new plan is needed: plan `problem` (the observed state, the estimated friction) under
    `config` (the ticks that are left); the current plan's rest, `incumbent`, is the plan to beat."""

    problem: Problem
    config: PlannerConfig
    incumbent: tuple[int, ...]


class FrictionEstimate:
    """The unit's effective friction, learnt from one sample per tick.

    A tick that started at speed v (observed), applied throttle u and ended at speed v' gives
    the sample 1 - v' / (v + u / m). A push or a collision gives one wild sample, so the
    estimate is the median of the recent samples and the model's own value (a prior that
    counts as one sample): one outlier cannot move it far, two agreeing samples outvote it.
    """

    def __init__(self, nominal: float, window: int = FRICTION_WINDOW) -> None:
        self.nominal = nominal
        self._samples: deque[float] = deque(maxlen=window)
        self.value = nominal

    @property
    def samples(self) -> int:
        return len(self._samples)

    def add(self, speed_before: float, throttle: int, mass: float, speed_after: float) -> None:
        pushed = speed_before + throttle / mass
        if not pushed > MIN_SAMPLE_SPEED or not math.isfinite(pushed):
            return  # a stopped unit that got no throttle: friction had nothing to act on
        self._samples.append(1.0 - speed_after / pushed)
        median = statistics.median([self.nominal, *self._samples])
        self.value = min(MAX_FRICTION, max(0.0, median))


class Guidance:
    """One session's state: the plan being followed, where the unit is, what was learnt.

    The caller answers `first_tick()`, then for each observation calls `observe`; when that
    returns a Replan it plans it and passes the throttles to `next_tick`, else calls
    `next_tick()` to follow the current plan. After the observation of the `done` tick the
    session is `finished`.
    """

    def __init__(
        self,
        problem: Problem,
        config: PlannerConfig,
        throttles: Sequence[int],
        origin: Coordinate,
        target: Coordinate,
    ) -> None:
        self._config = config
        self._mass = problem.mass
        self._target = target
        dx, dy = target.x - origin.x, target.y - origin.y
        length = math.hypot(dx, dy)
        #: Unit vector of the start-to-target line; at the target already, any move is past it.
        self._line = (dx / length, dy / length) if length > 0 else None
        self.friction = FrictionEstimate(problem.friction)
        #: The observed (or, at the start, given) state the current plan starts from.
        self._at_tick = 0
        self._speed = problem.initial_speed
        self._remaining = problem.distance
        self._plan: tuple[int, ...] = tuple(throttles)
        self._plan_from = 0  # the tick after which the plan's first throttle applies
        self._predicted: list[tuple[float, float]] = self._predict()
        self._answered = 0  # the last tick answered
        self._pending: Replan | None = None
        self._replanned = False
        self.replans = 0
        self.finished = False
        self.arrival = self._assess()

    # -- the session's flow ----------------------------------------------------------------

    def first_tick(self) -> GuideTick:
        return self._answer(replanned=False)

    def observe(self, observation: Observation) -> Replan | None:
        """Take the unit's state after the last tick answered: a Replan when it drifted from the
        prediction, None otherwise (to follow the plan, or, past the target, to coast: that plan
        is set here).

        Raises SessionOutOfOrder for an observation of any other tick, or after the end.
        """
        if self.finished:
            raise SessionOutOfOrder("the session is finished: no observation is expected")
        if observation.tick != self._answered:
            raise SessionOutOfOrder(
                f"expected the observation of tick {self._answered}, got tick {observation.tick}",
                expected=self._answered,
                got=observation.tick,
            )
        throttle = self._plan[self._answered - self._plan_from - 1]
        self.friction.add(self._speed, throttle, self._mass, observation.speed)
        predicted_speed, predicted_remaining = self._predicted[self._answered - self._plan_from - 1]
        self._at_tick = observation.tick
        self._speed = observation.speed
        self._remaining = self.remaining(observation.coordinate)
        if self._answered == self._plan_from + len(self._plan):
            self.finished = True  # that was the `done` tick
            return None
        drifted = (
            abs(observation.speed - predicted_speed) > DRIFT_SPEED
            or abs(self._remaining - predicted_remaining) > DRIFT_DISTANCE
        )
        if not drifted:
            return None
        if self._remaining < 0:  # passed the target: nothing brings it back, so coast and stop
            self._switch((self._config.min_throttle,), Arrival.OVERSHOOT_UNAVOIDABLE)
            return None
        left = self._config.max_ticks - self._at_tick
        incumbent = self._plan[self._at_tick - self._plan_from :][:left]
        problem = Problem(
            distance=self._remaining,
            initial_speed=self._speed,
            mass=self._mass,
            friction=self.friction.value,
        )
        config = replace(
            self._config, max_ticks=left, speed_threshold=self._config.speed_threshold * (1 - HEADROOM)
        )
        self._pending = Replan(problem, config, incumbent)
        return self._pending

    def next_tick(self, candidate: Sequence[int] | None = None) -> GuideTick:
        """The next tick's answer. After a Replan: from `candidate` (its plan) or the incumbent,
        whichever scores better (the incumbent alone when `candidate` is None); else from the
        current plan."""
        replan, self._pending = self._pending, None
        if replan is not None:
            chosen = _better(replan, tuple(candidate) if candidate is not None else ())
            self._switch(chosen, None)
        replanned, self._replanned = self._replanned, False
        return self._answer(replanned=replanned)

    def summary(self) -> GuidanceSummary:
        """Where the session stands: ticks observed, re-plans, the last observed miss and speed."""
        return GuidanceSummary(
            ticks=self._at_tick,
            replans=self.replans,
            final_miss=self._remaining,
            final_speed=self._speed,
            estimated_friction=self.friction.value,
            completed=self.finished,
        )

    # -- geometry and prediction -----------------------------------------------------------

    def remaining(self, at: Coordinate) -> float:
        """Distance left from `at` to the target along the start-to-target line (signed)."""
        dx, dy = self._target.x - at.x, self._target.y - at.y
        if self._line is None:
            return -math.hypot(dx, dy)
        return dx * self._line[0] + dy * self._line[1]

    def _predict(self) -> list[tuple[float, float]]:
        """(speed, distance remaining) after each tick of the plan, from where it starts."""
        keep = 1.0 - self.friction.value
        speed, remaining = self._speed, self._remaining
        states = []
        for throttle in self._plan:
            speed = (speed + throttle / self._mass) * keep
            remaining -= speed
            states.append((speed, remaining))
        return states

    def _switch(self, plan: tuple[int, ...], arrival: Arrival | None) -> None:
        """Follow `plan` from the state last observed; its arrival is assessed unless given."""
        self._plan, self._plan_from = plan, self._at_tick
        self._predicted = self._predict()
        self.replans += 1
        self._replanned = True
        self.arrival = arrival or self._assess()

    def _assess(self) -> Arrival:
        problem = Problem(max(0.0, self._remaining), self._speed, self._mass, self.friction.value)
        left = max(1, self._config.max_ticks - self._at_tick)
        return assess(problem, replace(self._config, max_ticks=left), self._plan)

    def _answer(self, *, replanned: bool) -> GuideTick:
        index = self._answered - self._plan_from
        self._answered += 1
        speed, remaining = self._predicted[index]
        return GuideTick(
            tick=self._answered,
            throttle=self._plan[index],
            replanned=replanned,
            speed=speed,
            distance_remaining=remaining,
            done=index + 1 == len(self._plan),
            estimated_friction=self.friction.value,
            arrival=self.arrival,
        )


def _better(replan: Replan, candidate: tuple[int, ...]) -> tuple[int, ...]:
    """The better of the planner's candidate and the current plan's rest (the warm start); the
    incumbent wins ties, so a plan that still fits is not swapped for an equal one."""
    options = [plan for plan in (replan.incumbent, candidate) if plan]
    if not options:  # nothing planned and nothing left: coast one tick
        return (replan.config.min_throttle,)
    return min(options, key=lambda plan: score(replan.problem, replan.config, plan).total)
