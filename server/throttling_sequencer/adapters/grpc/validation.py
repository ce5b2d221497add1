"""Validation of wire messages at the edge, reported as field violations with request paths.

Runs before anything reaches the domain, so domain objects are built only from valid input.
The rules' bounds come from the domain (config.BOUNDS); the unit limits from settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from throttling.v1 import game_state_pb2, planning_pb2, throttling_service_pb2
from throttling_sequencer.domain.config import BOUNDS, PlannerConfig
from throttling_sequencer.domain.errors import FieldViolation, InvalidInput

#: Reported violations are capped so a hostile request cannot make a huge error.
MAX_VIOLATIONS = 50
MAX_TICK_INTERVAL_MS = 10_000
DEFAULTS = PlannerConfig()


@dataclass(frozen=True, slots=True)
class Limits:
    max_units: int = 1_000
    max_coordinate: float = 1e9
    max_speed: float = 1e9
    max_mass: float = 1e12
    max_stream_seconds: float = 600.0
    #: Longest a guidance session waits for the caller's next message.
    guide_idle_seconds: float = 30.0


class Violations:
    """Collects violations; `raise_if_any()` ends validation with one InvalidInput."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        if len(self.items) < MAX_VIOLATIONS:
            self.items.append(FieldViolation(field, description))

    def number(
        self,
        field: str,
        value: float,
        low: float,
        high: float,
        *,
        low_open: bool = False,
        high_open: bool = False,
    ) -> None:
        """Check low <= value <= high (or strict where open) and that value is finite."""
        if not math.isfinite(value):
            self.add(field, f"must be a finite number, got {value}")
            return
        below = value <= low if low_open else value < low
        above = value >= high if high_open else value > high
        if below or above:
            lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
            self.add(field, f"must be in {lo}{low:g}, {high:g}{hi}, got {value:g}")

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInput(self.items)


def check_game_state(
    out: Violations, state: game_state_pb2.GameState, present: bool, limits: Limits, path: str = "game_state"
) -> None:
    if not present:
        out.add(path, "is required")
        return
    for side in ("player_units", "enemy_units"):
        units = getattr(state, side)
        if not units:
            out.add(f"{path}.{side}", "must contain at least one unit")
        elif len(units) > limits.max_units:
            out.add(f"{path}.{side}", f"must contain at most {limits.max_units} units, got {len(units)}")
        else:
            for index, unit in enumerate(units):
                check_unit(out, unit, f"{path}.{side}[{index}]", limits)


def check_unit(out: Violations, unit: game_state_pb2.Unit, path: str, limits: Limits) -> None:
    if not unit.HasField("coordinate"):
        out.add(f"{path}.coordinate", "is required")
    else:
        out.number(f"{path}.coordinate.x", unit.coordinate.x, -limits.max_coordinate, limits.max_coordinate)
        out.number(f"{path}.coordinate.y", unit.coordinate.y, -limits.max_coordinate, limits.max_coordinate)
    out.number(f"{path}.speed", unit.speed, 0.0, limits.max_speed)
    out.number(f"{path}.mass", unit.mass, 0.0, limits.max_mass, low_open=True)
    out.number(f"{path}.friction", unit.friction, 0.0, 1.0, high_open=True)


def check_options(out: Violations, options: planning_pb2.PlannerOptions, path: str = "options") -> None:
    if options.strategy not in planning_pb2.Strategy.values():
        out.add(f"{path}.strategy", f"unknown strategy {options.strategy}")
    for name, (low, high) in BOUNDS.items():
        if options.HasField(name):
            out.number(f"{path}.{name}", getattr(options, name), low, high)
    max_throttle = options.max_throttle if options.HasField("max_throttle") else DEFAULTS.max_throttle
    if options.HasField("min_throttle") and options.min_throttle > max_throttle:
        out.add(f"{path}.min_throttle", f"must not exceed max_throttle ({max_throttle})")


def check_tick_interval(out: Violations, tick_interval_ms: int) -> None:
    out.number("tick_interval_ms", tick_interval_ms, 0, MAX_TICK_INTERVAL_MS)


def check_observation(
    out: Violations,
    observation: throttling_service_pb2.Observation,
    limits: Limits,
    path: str = "observation",
) -> None:
    """An observation's own rules; whether its tick is the expected one is the session's to say."""
    if observation.tick < 1:
        out.add(f"{path}.tick", f"must be >= 1, got {observation.tick}")
    if not observation.HasField("coordinate"):
        out.add(f"{path}.coordinate", "is required")
    else:
        for axis in ("x", "y"):
            value = getattr(observation.coordinate, axis)
            out.number(f"{path}.coordinate.{axis}", value, -limits.max_coordinate, limits.max_coordinate)
    out.number(f"{path}.speed", observation.speed, 0.0, limits.max_speed)
