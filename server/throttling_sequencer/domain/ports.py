"""Ports: what the service needs from the outside world, as protocols adapters implement."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Plan, Problem, Strategy


class StopSignal:
    """Tells a planner running in a worker thread when to stop: a deadline, or a cancel.

    Planners poll `should_stop()` between iterations and then return their best plan so far.
    """

    def __init__(self, deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.deadline = deadline
        self._clock = clock
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def should_stop(self) -> bool:
        return self._cancelled.is_set() or self._clock() >= self.deadline


@dataclass(frozen=True, slots=True)
class PlannerResult:
    throttles: tuple[int, ...]
    #: Generations, samples or lengths the planner got through; for logs and benchmarks.
    iterations: int
    #: A proven lower bound on the best achievable score, when the strategy can certify one.
    lower_bound: float | None = None
    #: The plan is within the exact strategy's tolerance (1e-6 x max(1, |score|)) of the optimum,
    #: as its lower bound proves; False when the search was stopped first, or cannot certify.
    proven_optimal: bool = False


#: Called from the planner's thread with each improved plan: (throttles, iteration, lower bound).
ProgressCallback = Callable[[tuple[int, ...], int, float | None], None]


class Planner(Protocol):
    """A search strategy. Runs in a worker thread; must return promptly once `stop` says so."""

    strategy: Strategy

    def plan(
        self,
        problem: Problem,
        config: PlannerConfig,
        stop: StopSignal,
        on_progress: ProgressCallback | None = None,
    ) -> PlannerResult: ...


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Position in the newest-first listing: strictly older than this plan."""

    created_at: datetime
    plan_id: UUID


class PlanRepository(Protocol):
    async def add(self, plan: Plan) -> None: ...

    async def get(self, plan_id: UUID) -> Plan:
        """Raises PlanNotFound."""
        ...

    async def list(self, limit: int, after: PageCursor | None) -> list[Plan]:
        """Newest first (created_at, then plan_id, descending), strictly after the cursor."""
        ...
