"""Plain-JSON forms of domain values, for storage columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from throttling_sequencer.domain.model import (
    Arrival,
    Coordinate,
    GameState,
    Plan,
    PlannerOverrides,
    Score,
    Strategy,
    Unit,
)


def unit_to_json(unit: Unit) -> dict[str, Any]:
    return {
        "coordinate": {"x": unit.coordinate.x, "y": unit.coordinate.y},
        "speed": unit.speed,
        "mass": unit.mass,
        "friction": unit.friction,
    }


def unit_from_json(data: dict[str, Any]) -> Unit:
    c = data["coordinate"]
    return Unit(Coordinate(c["x"], c["y"]), data["speed"], data["mass"], data["friction"])


def game_state_to_json(state: GameState) -> dict[str, Any]:
    return {
        "player_units": [unit_to_json(u) for u in state.player_units],
        "enemy_units": [unit_to_json(u) for u in state.enemy_units],
    }


def game_state_from_json(data: dict[str, Any]) -> GameState:
    return GameState(
        player_units=tuple(unit_from_json(u) for u in data["player_units"]),
        enemy_units=tuple(unit_from_json(u) for u in data["enemy_units"]),
    )


def overrides_to_json(overrides: PlannerOverrides) -> dict[str, Any]:
    return overrides.given()


def overrides_from_json(data: dict[str, Any]) -> PlannerOverrides:
    values = dict(data)
    if "strategy" in values:
        values["strategy"] = Strategy(values["strategy"])
    return PlannerOverrides(**values)


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The whole plan as plain JSON (the outbox journal's line format)."""
    s = plan.score
    return {
        "plan_id": str(plan.plan_id),
        "request_id": plan.request_id,
        "user_id": plan.user_id,
        "created_at": plan.created_at.isoformat(),
        "strategy": plan.strategy.value,
        "game_state": game_state_to_json(plan.game_state),
        "options": overrides_to_json(plan.overrides),
        "throttles": list(plan.throttles),
        "score": [s.total, s.distance_error, s.speed_penalty, s.ticks, s.nonzero_ticks],
        "final_speed": plan.final_speed,
        "target_distance": plan.target_distance,
        "distance_covered": plan.distance_covered,
        "compute_seconds": plan.compute_seconds,
        "arrival": plan.arrival.value,
        "lower_bound": plan.lower_bound,
    }


def plan_from_json(data: dict[str, Any]) -> Plan:
    total, error, penalty, ticks, nonzero = data["score"]
    return Plan(
        plan_id=UUID(data["plan_id"]),
        request_id=data["request_id"],
        user_id=data["user_id"],
        created_at=datetime.fromisoformat(data["created_at"]),
        strategy=Strategy(data["strategy"]),
        game_state=game_state_from_json(data["game_state"]),
        overrides=overrides_from_json(data["options"]),
        throttles=tuple(data["throttles"]),
        score=Score(total, error, penalty, ticks, nonzero),
        final_speed=data["final_speed"],
        target_distance=data["target_distance"],
        distance_covered=data["distance_covered"],
        compute_seconds=data["compute_seconds"],
        arrival=Arrival(data["arrival"]),
        lower_bound=data["lower_bound"],
    )
