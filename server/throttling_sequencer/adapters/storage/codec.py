"""Plain-JSON forms of domain values, for storage columns."""

from __future__ import annotations

from typing import Any

from throttling_sequencer.domain.model import Coordinate, GameState, PlannerOverrides, Strategy, Unit


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
