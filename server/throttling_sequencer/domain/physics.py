"""The simulator and the score function: the one definition every planner and test shares.

Per tick t: v_t = (v_{t-1} + u_t / m) * (1 - f); the distance covered is the sum of v_t.
Score (lower is better): w_d*|d - D| + w_s*pen(v_n) + w_l*n + w_z*nonzero(u), where
pen(v) = 0 if 0 <= v <= threshold else |v - threshold|.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Arrival, Problem, Score


@dataclass(frozen=True, slots=True)
class TickState:
    """The unit after one tick."""

    tick: int
    throttle: int
    speed: float
    distance_covered: float


def simulate(problem: Problem, throttles: Sequence[int]) -> Iterator[TickState]:
    """Yield the state after each tick of the plan."""
    keep = 1.0 - problem.friction
    speed = problem.initial_speed
    covered = 0.0
    for tick, throttle in enumerate(throttles, start=1):
        speed = (speed + throttle / problem.mass) * keep
        covered += speed
        yield TickState(tick, throttle, speed, covered)


def final_state(problem: Problem, throttles: Sequence[int]) -> tuple[float, float]:
    """(final speed, distance covered) of a plan; the hot path of search heuristics."""
    keep = 1.0 - problem.friction
    mass = problem.mass
    speed = problem.initial_speed
    covered = 0.0
    for throttle in throttles:
        speed = (speed + throttle / mass) * keep
        covered += speed
    return speed, covered


def speed_penalty(final_speed: float, threshold: float) -> float:
    return 0.0 if 0.0 <= final_speed <= threshold else abs(final_speed - threshold)


def score(problem: Problem, config: PlannerConfig, throttles: Sequence[int]) -> Score:
    """Score a plan; planners compare plans by `.total`."""
    final_speed, covered = final_state(problem, throttles)
    distance_error = abs(problem.distance - covered)
    penalty = speed_penalty(final_speed, config.speed_threshold)
    ticks = len(throttles)
    nonzero = sum(1 for u in throttles if u != 0)
    total = (
        config.distance_weight * distance_error
        + config.speed_weight * penalty
        + config.length_weight * ticks
        + config.nonzero_weight * nonzero
    )
    return Score(total, distance_error, penalty, ticks, nonzero)


def score_ceiling(problem: Problem, config: PlannerConfig) -> float:
    """At least the score of any plan the config allows; infinite or NaN when the physics leaves
    the floating-point range (a mass so small that max_throttle / mass overflows).

    Speeds are never negative and rise with every throttle, so no plan goes faster or farther
    than max_throttle on every tick; each score term is bounded by those magnitudes.

    simulate's arithmetic in a bare loop: the edge checks every plan (every unit of a batch) with
    it on the event loop, where TickState objects cost 20 times as much (60 us at 100 ticks).
    """
    keep = 1.0 - problem.friction
    push = config.max_throttle / problem.mass
    speed, covered, fastest = problem.initial_speed, 0.0, 0.0
    for _ in range(config.max_ticks):
        speed = (speed + push) * keep
        covered += speed
        if speed > fastest:
            fastest = speed
    magnitude = problem.distance + covered + fastest + config.speed_threshold
    return (config.distance_weight + config.speed_weight) * magnitude + (
        config.length_weight + config.nonzero_weight
    ) * config.max_ticks


#: Distance errors, and speed above the threshold, up to this are within rounding of arriving.
ARRIVAL_TOLERANCE = 1e-3
#: A plan is proven optimal when its score is within this much, relative to max(1, |score|), of
#: a proven lower bound (issue 11: 1e-6).
OPTIMALITY_TOLERANCE = 1e-6


def within_tolerance(total: float, lower_bound: float | None) -> bool:
    """The score is provably within OPTIMALITY_TOLERANCE of the best possible."""
    return lower_bound is not None and total - lower_bound <= OPTIMALITY_TOLERANCE * max(1.0, abs(total))


def assess(problem: Problem, config: PlannerConfig, throttles: Sequence[int]) -> Arrival:
    """Say what a plan achieves, and whether falling short of the target was avoidable."""
    final_speed, covered = final_state(problem, throttles)
    if abs(problem.distance - covered) <= ARRIVAL_TOLERANCE:
        on_time = final_speed <= config.speed_threshold + ARRIVAL_TOLERANCE
        return Arrival.ON_TARGET if on_time else Arrival.TOO_FAST
    _, farthest = final_state(problem, [config.max_throttle] * config.max_ticks)
    if farthest < problem.distance - ARRIVAL_TOLERANCE:
        return Arrival.UNREACHABLE
    _, nearest = final_state(problem, [config.min_throttle])
    if nearest > problem.distance + ARRIVAL_TOLERANCE:
        return Arrival.OVERSHOOT_UNAVOIDABLE
    return Arrival.OFF_TARGET
