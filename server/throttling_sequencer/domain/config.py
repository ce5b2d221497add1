"""Planner configuration: the score's weights, the plan's bounds, and the search budget.

Defaults reproduce the earlier service; every field can be overridden per request within
BOUNDS, which the edge validates against.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from throttling_sequencer.domain.model import PlannerOverrides

#: Inclusive bounds of each overridable field. min_throttle is further capped by max_throttle.
BOUNDS: Final[dict[str, tuple[float, float]]] = {
    "distance_weight": (0.0, 1e6),
    "speed_weight": (0.0, 1e6),
    "length_weight": (0.0, 1e6),
    "nonzero_weight": (0.0, 1e6),
    "speed_threshold": (0.0, 1e6),
    "min_throttle": (0, 10_000),
    "max_throttle": (1, 10_000),
    "max_ticks": (1, 1_000),
    "time_budget_ms": (1, 60_000),
}


@dataclass(frozen=True, slots=True)
class PlannerConfig:
    distance_weight: float = 1.0
    speed_weight: float = 0.5
    length_weight: float = 0.01
    nonzero_weight: float = 0.01
    speed_threshold: float = 5.0
    min_throttle: int = 0
    max_throttle: int = 300
    max_ticks: int = 100
    time_budget_ms: int = 1_000
    seed: int | None = None

    @property
    def time_budget_seconds(self) -> float:
        return self.time_budget_ms / 1000.0

    def with_overrides(self, overrides: PlannerOverrides) -> PlannerConfig:
        changes = {k: v for k, v in overrides.given().items() if k != "strategy"}
        return replace(self, **changes)  # type: ignore[arg-type]
