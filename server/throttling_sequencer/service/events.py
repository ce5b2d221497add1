"""What planning tells its caller as it goes: each better plan found, then the stored plan.

`PlanningService.plan_events` yields these; edges map them in one place (a `match` over
PlanEvent), never by asking which type a loose union holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from throttling_sequencer.domain.model import Plan, Score


@dataclass(frozen=True, slots=True)
class Progress:
    """An improved plan found while planning, scored as the physics defines it."""

    iteration: int
    elapsed_seconds: float
    throttles: tuple[int, ...]
    score: Score
    lower_bound: float | None

    @property
    def optimality_gap(self) -> float | None:
        return None if self.lower_bound is None else max(0.0, self.score.total - self.lower_bound)


@dataclass(frozen=True, slots=True)
class Improved:
    """The planner found a better plan; more may follow."""

    progress: Progress


@dataclass(frozen=True, slots=True)
class Finished:
    """Planning ended and the plan is stored: always the last event."""

    plan: Plan


PlanEvent = Improved | Finished
