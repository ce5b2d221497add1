"""Conversions between wire messages (throttling.v1) and domain values. No rules live here."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.duration_pb2 import Duration
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.timestamp_pb2 import Timestamp

from throttling.v1 import game_state_pb2, planning_pb2, throttling_service_pb2
from throttling_sequencer.domain import model
from throttling_sequencer.domain.physics import TickState
from throttling_sequencer.service.events import Progress

STRATEGY_TO_WIRE = {
    model.Strategy.EXACT: planning_pb2.STRATEGY_EXACT,
    model.Strategy.GENETIC: planning_pb2.STRATEGY_GENETIC,
    model.Strategy.RANDOM: planning_pb2.STRATEGY_RANDOM,
}
ARRIVAL_TO_WIRE = {
    model.Arrival.ON_TARGET: planning_pb2.ARRIVAL_ON_TARGET,
    model.Arrival.TOO_FAST: planning_pb2.ARRIVAL_TOO_FAST,
    model.Arrival.UNREACHABLE: planning_pb2.ARRIVAL_UNREACHABLE,
    model.Arrival.OVERSHOOT_UNAVOIDABLE: planning_pb2.ARRIVAL_OVERSHOOT_UNAVOIDABLE,
    model.Arrival.OFF_TARGET: planning_pb2.ARRIVAL_OFF_TARGET,
}
STRATEGY_FROM_WIRE = {wire: strategy for strategy, wire in STRATEGY_TO_WIRE.items()}
OVERRIDABLE = (
    "distance_weight",
    "speed_weight",
    "length_weight",
    "nonzero_weight",
    "speed_threshold",
    "min_throttle",
    "max_throttle",
    "max_ticks",
    "time_budget_ms",
    "seed",
)


def coordinate_from_wire(c: game_state_pb2.Coordinate) -> model.Coordinate:
    return model.Coordinate(c.x, c.y)


def coordinate_to_wire(c: model.Coordinate) -> game_state_pb2.Coordinate:
    return game_state_pb2.Coordinate(x=c.x, y=c.y)


def unit_from_wire(u: game_state_pb2.Unit) -> model.Unit:
    return model.Unit(coordinate_from_wire(u.coordinate), u.speed, u.mass, u.friction)


def unit_to_wire(u: model.Unit) -> game_state_pb2.Unit:
    return game_state_pb2.Unit(
        coordinate=coordinate_to_wire(u.coordinate), speed=u.speed, mass=u.mass, friction=u.friction
    )


def game_state_from_wire(s: game_state_pb2.GameState) -> model.GameState:
    return model.GameState(
        player_units=tuple(unit_from_wire(u) for u in s.player_units),
        enemy_units=tuple(unit_from_wire(u) for u in s.enemy_units),
    )


def game_state_to_wire(s: model.GameState) -> game_state_pb2.GameState:
    return game_state_pb2.GameState(
        player_units=[unit_to_wire(u) for u in s.player_units],
        enemy_units=[unit_to_wire(u) for u in s.enemy_units],
    )


def overrides_from_wire(o: planning_pb2.PlannerOptions) -> model.PlannerOverrides:
    values: dict[str, object] = {name: getattr(o, name) for name in OVERRIDABLE if o.HasField(name)}
    return model.PlannerOverrides(strategy=STRATEGY_FROM_WIRE.get(o.strategy), **values)  # type: ignore[arg-type]


def overrides_to_wire(o: model.PlannerOverrides) -> planning_pb2.PlannerOptions:
    given = o.given()
    given.pop("strategy", None)
    options = planning_pb2.PlannerOptions(**given)  # type: ignore[arg-type]
    if o.strategy is not None:
        options.strategy = STRATEGY_TO_WIRE[o.strategy]
    return options


def goal_to_wire(target: model.Coordinate, throttle: int) -> game_state_pb2.UnitGoal:
    return game_state_pb2.UnitGoal(coordinate=coordinate_to_wire(target), throttle=throttle)


def add_goals(
    goals: RepeatedCompositeFieldContainer[game_state_pb2.UnitGoal],
    target: model.Coordinate,
    throttles: Iterable[int],
) -> None:
    """Append one goal per throttle in place (twice as fast as building each message)."""
    coordinate = coordinate_to_wire(target)
    for throttle in throttles:
        goals.add(throttle=throttle).coordinate.CopyFrom(coordinate)


def score_to_wire(s: model.Score) -> planning_pb2.Score:
    return planning_pb2.Score(
        total=s.total,
        distance_error=s.distance_error,
        speed_penalty=s.speed_penalty,
        ticks=s.ticks,
        nonzero_ticks=s.nonzero_ticks,
    )


def duration(seconds: float) -> Duration:
    value = Duration()
    value.FromNanoseconds(round(seconds * 1e9))
    return value


def plan_to_wire(p: model.Plan) -> planning_pb2.Plan:
    created = Timestamp()
    created.FromDatetime(p.created_at)
    wire = planning_pb2.Plan(
        plan_id=str(p.plan_id),
        score=score_to_wire(p.score),
        final_speed=p.final_speed,
        target_distance=p.target_distance,
        distance_covered=p.distance_covered,
        distance_remaining=p.distance_remaining,
        strategy=STRATEGY_TO_WIRE[p.strategy],
        compute_time=duration(p.compute_seconds),
        create_time=created,
        request_id=p.request_id,
        user_id=p.user_id,
        game_state=game_state_to_wire(p.game_state),
        options=overrides_to_wire(p.overrides),
        lower_bound=p.lower_bound,
        optimality_gap=p.optimality_gap,
        arrival=ARRIVAL_TO_WIRE[p.arrival],
    )
    add_goals(wire.goals, p.target, p.throttles)
    return wire


def progress_to_wire(
    target: model.Coordinate, p: Progress
) -> throttling_service_pb2.StreamPlanProgressResponse:
    progress = planning_pb2.PlanProgress(
        iteration=p.iteration,
        elapsed=duration(p.elapsed_seconds),
        score=score_to_wire(p.score),
        lower_bound=p.lower_bound,
        optimality_gap=p.optimality_gap,
    )
    add_goals(progress.goals, target, p.throttles)
    return throttling_service_pb2.StreamPlanProgressResponse(progress=progress)


def tick_to_wire(plan: model.Plan, t: TickState) -> throttling_service_pb2.StreamThrottleStepsResponse:
    return throttling_service_pb2.StreamThrottleStepsResponse(
        tick=planning_pb2.TickState(
            tick=t.tick,
            total_ticks=len(plan.throttles),
            goal=goal_to_wire(plan.target, t.throttle),
            speed=t.speed,
            distance_covered=t.distance_covered,
            distance_remaining=plan.target_distance - t.distance_covered,
        )
    )


def done_to_wire(plan: model.Plan) -> throttling_service_pb2.StreamThrottleStepsResponse:
    return throttling_service_pb2.StreamThrottleStepsResponse(
        done=throttling_service_pb2.StreamDone(
            plan_id=str(plan.plan_id), total_ticks=len(plan.throttles), score=score_to_wire(plan.score)
        )
    )
