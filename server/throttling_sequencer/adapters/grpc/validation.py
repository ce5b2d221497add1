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
    #: Most units one batch plans.
    max_batch: int = 1_000
    #: Most goals one batch's answer may hold (units x max_ticks).
    max_batch_goals: int = 100_000
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


SIDES = ("player_units", "enemy_units")


def check_game_state(
    out: Violations, state: game_state_pb2.GameState, present: bool, limits: Limits, path: str = "game_state"
) -> None:
    if not check_sides(out, state, present, limits, path):
        return
    for side in SIDES:
        for index, unit in enumerate(getattr(state, side)):
            check_unit(out, unit, f"{path}.{side}[{index}]", limits)


def check_sides(
    out: Violations, state: game_state_pb2.GameState, present: bool, limits: Limits, path: str = "game_state"
) -> bool:
    """The game state is there and each side holds 1..max_units units; False if not."""
    if not present:
        out.add(path, "is required")
        return False
    fine = True
    for side in SIDES:
        units = getattr(state, side)
        if not units:
            out.add(f"{path}.{side}", "must contain at least one unit")
            fine = False
        elif len(units) > limits.max_units:
            out.add(f"{path}.{side}", f"must contain at most {limits.max_units} units, got {len(units)}")
            fine = False
    return fine


def check_batch(
    out: Violations, request: throttling_service_pb2.CreatePlanBatchRequest, limits: Limits
) -> None:
    """What a batch must get right as a whole (its units are checked one by one, per result):
    a game state with both sides, valid options, and at most `max_batch` units to plan whose
    answer stays within `max_batch_goals` goals."""
    sides = check_sides(out, request.game_state, request.HasField("game_state"), limits)
    check_options(out, request.options)
    given = len(request.assignments)
    units = given or len(request.game_state.player_units)
    where = "assignments" if given else "game_state.player_units"
    if given > limits.max_batch:
        out.add(where, f"must contain at most {limits.max_batch} assignments, got {given}")
    elif sides and units > limits.max_batch:
        out.add(
            where, f"a batch plans at most {limits.max_batch} units, got {units}: give assignments for fewer"
        )
    else:
        options = request.options
        ticks = options.max_ticks if options.HasField("max_ticks") else DEFAULTS.max_ticks
        if units * ticks > limits.max_batch_goals:
            out.add(
                where,
                f"{units} units of up to {ticks} ticks may answer {units * ticks} goals, at most "
                f"{limits.max_batch_goals} are allowed: plan fewer units or lower options.max_ticks",
            )


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
