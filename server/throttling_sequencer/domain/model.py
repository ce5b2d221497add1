"""Value objects of the game and of plans. Immutable; constructed only from validated input."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID


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
class Plan:
    """An answered planning request, as stored."""

    plan_id: UUID
    request_id: str
    user_id: str
    created_at: datetime
    strategy: Strategy
    game_state: GameState
    overrides: PlannerOverrides
    throttles: tuple[int, ...]
    score: Score
    final_speed: float
    target_distance: float
    distance_covered: float
    compute_seconds: float
    arrival: Arrival = Arrival.ON_TARGET
    #: A proven lower bound on the best achievable score, when the strategy certifies one.
    lower_bound: float | None = None

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


@dataclass(frozen=True, slots=True)
class PlannerOverrides:
    """What a request asked to change in the planner configuration; None keeps the default."""

    strategy: Strategy | None = None
    distance_weight: float | None = None
    speed_weight: float | None = None
    length_weight: float | None = None
    nonzero_weight: float | None = None
    speed_threshold: float | None = None
    min_throttle: int | None = None
    max_throttle: int | None = None
    max_ticks: int | None = None
    time_budget_ms: int | None = None
    seed: int | None = None

    def given(self) -> dict[str, object]:
        """The fields the request set, for storage and logs."""
        out: dict[str, object] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if value is not None:
                out[name] = value.value if isinstance(value, Strategy) else value
        return out


@dataclass(frozen=True, slots=True)
class PlanPage:
    plans: tuple[Plan, ...]
    next_page_token: str = field(default="")
