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
    """Tells a planner running in a worker thread when to stop: a deadline, a cancel, or a work
    budget spent.

    Planners poll `should_stop()` between iterations and then return their best plan so far,
    often enough that little work is done past the deadline. The service creates the signal
    when a request arrives (so a cancel reaches a plan still queued) and sets `deadline` when a
    worker thread picks the plan up: queueing never spends the budget.

    `work`, when given, is a budget in polls: the signal says stop at the poll after that many.
    Each poll bounds a planner's work between checks, so a work budget makes a small budget
    deterministic, whatever the machine's load (re-plans of a guidance session use one).
    """

    def __init__(
        self, deadline: float, clock: Callable[[], float] = time.monotonic, *, work: int | None = None
    ) -> None:
        self.deadline = deadline
        self._clock = clock
        self._cancelled = threading.Event()
        self._work = work
        self._polled = 0

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def should_stop(self) -> bool:
        self._polled += 1
        if self._work is not None and self._polled > self._work:
            return True
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


@dataclass(frozen=True, slots=True)
class Improvement:
    """A better plan a planner found while searching."""

    throttles: tuple[int, ...]
    #: The generation, sample or length it was found at.
    iteration: int
    #: A proven lower bound on the best achievable score, when the strategy can certify one.
    lower_bound: float | None = None


class ProgressSink(Protocol):
    """Where a planner reports each improvement, from its worker thread; must return at once."""

    def improved(self, improvement: Improvement) -> None: ...


class _Unheard:
    def improved(self, improvement: Improvement) -> None:
        """Nobody listens: the improvement is dropped."""


#: The sink of a plan whose progress nobody follows.
UNHEARD: ProgressSink = _Unheard()


class Planner(Protocol):
    """A search strategy. Runs in a worker thread; must return promptly once `stop` says so."""

    strategy: Strategy

    def plan(
        self, problem: Problem, config: PlannerConfig, stop: StopSignal, progress: ProgressSink = UNHEARD
    ) -> PlannerResult: ...


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Position in the newest-first listing: strictly older than this plan."""

    created_at: datetime
    plan_id: UUID


@dataclass(frozen=True, slots=True)
class StorageStatus:
    """What the plan store reports about itself (GetStatus, metrics)."""

    #: "sqlite", "postgres" or "memory".
    kind: str
    #: Plans are journaled locally and written to the database in the background.
    outbox: bool = False
    #: Answered plans not yet in the database.
    pending_writes: int = 0
    #: Plans the database refused for good, kept aside.
    poisoned_writes: int = 0
    #: Longest accepted-to-stored delay seen, in seconds.
    max_write_delay_seconds: float = 0.0


class PlanRepository(Protocol):
    """Where plans are kept: opened before serving, closed after draining.

    Reads name an `owner`: only that user's plans are seen (None: every user's, for
    administrators). A store in front of another (the outbox) takes this same port for the
    store behind it.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def reconnect(self) -> None:
        """Re-dial the database (e.g. after a failover); raises StorageUnavailable if it is away."""
        ...

    async def add(self, plan: Plan) -> None:
        """Store a plan; one already stored with its id is replaced (a guidance session stores
        its plan again, with its summary, when it ends)."""
        ...

    async def add_many(self, plans: list[Plan]) -> None:
        """Store plans, replacing those whose id is already stored: retries are harmless, and the
        newest version of a plan stored twice wins. Raises StorageUnavailable (try again later)
        or StorageRejected (never storable as they are)."""
        ...

    async def get(self, plan_id: UUID, *, owner: str | None) -> Plan:
        """Raises PlanNotFound, also when the plan belongs to someone other than `owner`."""
        ...

    async def list(self, limit: int, after: PageCursor | None, *, owner: str | None) -> list[Plan]:
        """Newest first (created_at, then plan_id, descending), strictly after the cursor."""
        ...

    def status(self) -> StorageStatus:
        """Cheap and synchronous: metrics read it from their own thread."""
        ...
