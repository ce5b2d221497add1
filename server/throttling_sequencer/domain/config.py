"""Planner configuration: the score's weights, the plan's bounds, and the search budget.

PlannerConfig is the one table of planner options: each field is an option a request may
override (PlannerOverrides, the wire's PlannerOptions, GraphQL's PlannerOptionsInput, all by
name), with its default and, in its metadata, the inclusive bounds the edge validates against.
Defaults reproduce the earlier service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from throttling_sequencer.domain.model import PlannerOverrides

#: Field metadata key of an option's inclusive (low, high) bounds.
BOUNDED: Final = "bounds"


def bounds(low: float, high: float) -> Mapping[str, tuple[float, float]]:
    return {BOUNDED: (low, high)}


@dataclass(frozen=True, slots=True)
class PlannerConfig:
    distance_weight: float = field(default=1.0, metadata=bounds(0.0, 1e6))
    speed_weight: float = field(default=0.5, metadata=bounds(0.0, 1e6))
    length_weight: float = field(default=0.01, metadata=bounds(0.0, 1e6))
    nonzero_weight: float = field(default=0.01, metadata=bounds(0.0, 1e6))
    speed_threshold: float = field(default=5.0, metadata=bounds(0.0, 1e6))
    #: Further capped by max_throttle.
    min_throttle: int = field(default=0, metadata=bounds(0, 10_000))
    max_throttle: int = field(default=300, metadata=bounds(1, 10_000))
    max_ticks: int = field(default=100, metadata=bounds(1, 1_000))
    time_budget_ms: int = field(default=1_000, metadata=bounds(1, 60_000))
    #: Any seed; None draws one.
    seed: int | None = None

    @property
    def time_budget_seconds(self) -> float:
        return self.time_budget_ms / 1000.0

    def with_overrides(self, overrides: PlannerOverrides) -> PlannerConfig:
        return replace(self, **dict(overrides.values))  # type: ignore[arg-type]


#: The options' names, in declaration order.
OPTIONS: Final[tuple[str, ...]] = tuple(f.name for f in fields(PlannerConfig))
#: Inclusive bounds of each bounded option, by name.
BOUNDS: Final[dict[str, tuple[float, float]]] = {
    f.name: f.metadata[BOUNDED] for f in fields(PlannerConfig) if BOUNDED in f.metadata
}
