"""Value objects of the game and of plans. Immutable; constructed only from validated input.

These dataclasses are also the one declaration of each value's fields: the adapters' mappers
(wire, storage row, journal JSON) iterate over them (declaration.py) instead of naming fields,
so a new field reaches every layer by itself. The few fields the public API (throttling.v1) shows
under another name, or not as such, say so in their metadata (`shown_as`); values the API shows
that are derived from fields are listed in `DERIVED`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar
from uuid import UUID

from throttling_sequencer.domain.config import OPTIONS
from throttling_sequencer.domain.declaration import shown_as


@dataclass(frozen=True, slots=True)
class Coordinate:
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Unit:
    coordinate: Coordinate
    speed: float
    mass: float
    friction: float


@dataclass(frozen=True, slots=True)
class GameState:
    player_units: tuple[Unit, ...]
    enemy_units: tuple[Unit, ...]


@dataclass(frozen=True, slots=True)
class Assignment:
    """One unit of a batch: player_units[player_index] moves towards enemy_units[enemy_index]."""

    player_index: int
    enemy_index: int


@dataclass(frozen=True, slots=True)
class UnitGoal:
    coordinate: Coordinate
    throttle: int


class Strategy(enum.Enum):
    """How a plan is searched for. Values are the names stored in the database."""

    EXACT = "exact"
    GENETIC = "genetic"
    RANDOM = "random"


class Arrival(enum.Enum):
    """What a plan achieves (see physics.assess)."""

    ON_TARGET = "on_target"
    TOO_FAST = "too_fast"
    UNREACHABLE = "unreachable"
    OVERSHOOT_UNAVOIDABLE = "overshoot_unavoidable"
    OFF_TARGET = "off_target"


@dataclass(frozen=True, slots=True)
class Problem:
    """The one-dimensional problem a game state poses: cover `distance`, starting at `initial_speed`."""

    distance: float
    initial_speed: float
    mass: float
    friction: float

    @classmethod
    def from_game_state(cls, state: GameState) -> Problem:
        """The service plans for the first player unit towards the first enemy unit."""
        unit, target = state.player_units[0], state.enemy_units[0]
        distance = math.hypot(
            target.coordinate.x - unit.coordinate.x, target.coordinate.y - unit.coordinate.y
        )
        return cls(distance=distance, initial_speed=unit.speed, mass=unit.mass, friction=unit.friction)


@dataclass(frozen=True, slots=True)
class Score:
    """A plan's score (lower is better) and the raw terms it is made of."""

    total: float
    distance_error: float
    speed_penalty: float
    ticks: int
    nonzero_ticks: int


@dataclass(frozen=True, slots=True)
class GuidanceSummary:
    """How a closed-loop guidance session (Guide) that started from a plan went: stored on that
    plan when the session ends."""

    #: Ticks the unit reported.
    ticks: int
    #: Times the session planned again from the unit's observed state.
    replans: int
    #: Distance left at the last observation, along the start-to-target line: |final_miss| is
    #: the miss, negative past the target.
    final_miss: float
    #: Speed at the last observation.
    final_speed: float
    #: The unit's effective friction as the session learnt it.
    estimated_friction: float
    #: The unit reported the last tick; false when the session ended early (an error, a timeout,
    #: the caller went away).
    completed: bool


@dataclass(frozen=True, slots=True)
class Plan:
    """An answered planning request, as stored.

    A new field appears in the API (throttling.v1 Plan, same name), the storage row (a column of
    that name: add it to storage/models.py with a migration) and the journal by itself; give it
    a default so journal lines and rows written before it still read back.
    """

    #: Values the API shows next to the fields, derived from them (properties below).
    DERIVED: ClassVar[tuple[str, ...]] = ("goals", "distance_remaining", "optimality_gap")

    plan_id: UUID
    request_id: str
    user_id: str
    created_at: datetime = field(metadata=shown_as("create_time"))
    strategy: Strategy
    game_state: GameState
    overrides: PlannerOverrides = field(metadata=shown_as("options"))
    #: Shown as `goals` (one per throttle, towards the target).
    throttles: tuple[int, ...] = field(metadata=shown_as(None))
    score: Score
    final_speed: float
    target_distance: float
    distance_covered: float
    compute_seconds: float = field(metadata=shown_as("compute_time"))
    arrival: Arrival = Arrival.ON_TARGET
    #: A proven lower bound on the best achievable score, when the strategy certifies one.
    lower_bound: float | None = None
    #: The strategy proved the plan optimal within its tolerance (the exact one, when it finishes).
    proven_optimal: bool = False
    #: Set once a guidance session that started from this plan has ended.
    guidance: GuidanceSummary | None = None

    @property
    def optimality_gap(self) -> float | None:
        return None if self.lower_bound is None else max(0.0, self.score.total - self.lower_bound)

    @property
    def target(self) -> Coordinate:
        return self.game_state.enemy_units[0].coordinate

    @property
    def goals(self) -> tuple[UnitGoal, ...]:
        target = self.target
        return tuple(UnitGoal(target, throttle) for throttle in self.throttles)

    @property
    def distance_remaining(self) -> float:
        return self.target_distance - self.distance_covered


@dataclass(frozen=True, slots=True, init=False)
class PlannerOverrides:
    """What a request asked to change: the strategy, and values of PlannerConfig's fields (the
    table of options, domain/config.py), e.g. `PlannerOverrides(max_ticks=40)`. None keeps the default."""

    strategy: Strategy | None
    #: (option, value) pairs the request set, in PlannerConfig's order.
    values: tuple[tuple[str, float], ...]

    def __init__(self, strategy: Strategy | None = None, **values: float | None) -> None:
        unknown = sorted(values.keys() - OPTIONS)
        if unknown:
            raise TypeError(f"unknown planner options: {', '.join(unknown)}")
        object.__setattr__(self, "strategy", strategy)
        given = tuple((name, value) for name in OPTIONS if (value := values.get(name)) is not None)
        object.__setattr__(self, "values", given)

    def given(self) -> dict[str, object]:
        """The fields the request set, as plain values, for storage and logs."""
        out: dict[str, object] = {} if self.strategy is None else {"strategy": self.strategy.value}
        out.update(self.values)
        return out


@dataclass(frozen=True, slots=True)
class PlanPage:
    plans: tuple[Plan, ...]
    next_page_token: str = field(default="")
