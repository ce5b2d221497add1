"""The planning use cases: plan a game state within a deadline, store it, read plans back."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from loguru import logger

from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.errors import DeadlineTooShort, FieldViolation, InvalidInput
from throttling_sequencer.domain.model import (
    GameState,
    Plan,
    PlannerOverrides,
    PlanPage,
    Problem,
    Strategy,
)
from throttling_sequencer.domain.physics import (
    TickState,
    assess,
    final_state,
    score,
    score_ceiling,
    simulate,
    within_tolerance,
)
from throttling_sequencer.domain.ports import (
    UNHEARD,
    Improvement,
    Planner,
    PlannerResult,
    PlanRepository,
    ProgressSink,
    StopSignal,
    StorageStatus,
)
from throttling_sequencer.service import paging
from throttling_sequencer.service.events import Finished, Improved, PlanEvent, Progress
from throttling_sequencer.service.handoff import Handoff
from throttling_sequencer.service.lanes import PlanningLanes

#: Below this much time before the caller's deadline, planning is refused outright.
MIN_PLANNING_SECONDS = 0.005
#: Part of the caller's remaining time kept back for storing and answering, up to the service's
#: answer reserve: a plan finished too late to be stored and answered is wasted work.
RESERVE_FRACTION = 0.2
#: The most kept back by default (THROTTLING_ANSWER_RESERVE_MS): storing takes a few ms on an idle
#: machine, but on a loaded one (or behind a slow fsync) 50 ms was measured to be too little.
DEFAULT_ANSWER_RESERVE_SECONDS = 0.25
DEFAULT_PAGE_SIZE = 20
_OVERFLOWS = (
    "is too small: at up to {0.max_throttle} throttle per tick over {0.max_ticks} ticks the unit's "
    "speed and distance overflow the floating-point range (raise the mass or lower max_throttle)"
)
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who is calling and by when they need the answer (a time.monotonic() instant, or None).

    A caller reads their own plans only; an administrator reads everyone's.
    """

    request_id: str
    user_id: str
    deadline: float | None = None
    admin: bool = False

    @property
    def owner(self) -> str | None:
        """Whose plans this caller may read: their own, or everyone's (None) for administrators."""
        return None if self.admin else self.user_id


class PlanningService:
    def __init__(
        self,
        planners: Mapping[Strategy, Planner],
        repository: PlanRepository,
        executor: Executor | PlanningLanes,
        default_strategy: Strategy = Strategy.EXACT,
        defaults: PlannerConfig | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], UUID] = uuid4,
        monotonic: Callable[[], float] = time.monotonic,
        answer_reserve_seconds: float = DEFAULT_ANSWER_RESERVE_SECONDS,
    ) -> None:
        self._planners = dict(planners)
        self._repository = repository
        self._lanes = executor if isinstance(executor, PlanningLanes) else PlanningLanes.single(executor)
        self._default_strategy = default_strategy
        self._defaults = defaults or PlannerConfig()
        self._now = now
        self._new_id = new_id
        self._monotonic = monotonic
        self._answer_reserve = answer_reserve_seconds

    async def plan_events(
        self, state: GameState, overrides: PlannerOverrides, call: CallContext, *, improvements: bool = True
    ) -> AsyncGenerator[PlanEvent, None]:
        """Plan for state.player_units[0] towards state.enemy_units[0]: an Improved event for each
        better plan the planner finds (unless `improvements` is off), then Finished with the
        stored plan.

        Closing the iterator early (the client went away) cancels planning.
        """
        found: Handoff[Improved] | None = Handoff() if improvements else None
        planning = asyncio.ensure_future(self._plan(state, overrides, call, found))
        try:
            if found is not None:
                # The planner's last improvement reaches the loop before its result does.
                planning.add_done_callback(lambda _: found.close())
                async for improved in found:
                    yield improved
            yield Finished(await planning)
        finally:
            planning.cancel()

    async def create_plan(self, state: GameState, overrides: PlannerOverrides, call: CallContext) -> Plan:
        """The stored plan: plan_events' last event, without following its progress."""
        async with aclosing(self.plan_events(state, overrides, call, improvements=False)) as events:
            async for event in events:
                match event:
                    case Finished(plan):
                        return plan
        raise AssertionError("plan_events ended without a Finished event")

    def config(self, overrides: PlannerOverrides) -> PlannerConfig:
        """The planner configuration a request's overrides give."""
        return self._defaults.with_overrides(overrides)

    async def solve(
        self,
        problem: Problem,
        config: PlannerConfig,
        call: CallContext,
        *,
        strategy: Strategy = Strategy.EXACT,
        work: int | None = None,
    ) -> PlannerResult:
        """Plan without storing (a guidance session's re-plans), in the planning lanes like any
        plan and within the caller's deadline; `work` caps the planner's polls of its stop signal,
        a budget that gives the same plan however loaded the machine is."""
        planner = self._planners.get(strategy)
        if planner is None:
            raise InvalidInput([FieldViolation("options.strategy", f"{strategy.value} is not available")])
        arrived = self._monotonic()
        allowed = self._planning_deadline(arrived, config, call.deadline) - arrived
        stop = StopSignal(math.inf, self._monotonic, work=work)
        job = self._job(planner, problem, config, call.deadline, stop, None)
        _, result, _ = await self._run(self._lanes.submit(allowed, call.user_id, job), stop)
        return result

    def storage_status(self) -> StorageStatus:
        """GetStatus: the kind of plan store, and its outbox backlog if it has one."""
        return self._repository.status()

    async def _plan(
        self,
        state: GameState,
        overrides: PlannerOverrides,
        call: CallContext,
        found: Handoff[Improved] | None,
    ) -> Plan:
        strategy = overrides.strategy or self._default_strategy
        planner = self._planners.get(strategy)
        if planner is None:
            raise InvalidInput([FieldViolation("options.strategy", f"{strategy.value} is not available")])
        config = self.config(overrides)
        problem = Problem.from_game_state(state)
        if not math.isfinite(score_ceiling(problem, config)):
            raise InvalidInput([FieldViolation("game_state.player_units[0].mass", _OVERFLOWS.format(config))])

        arrived = self._monotonic()
        # Refused at once if the caller's deadline is too close; the lane is chosen by the most
        # time the plan may take. The budget itself starts when a worker picks the plan up.
        allowed = self._planning_deadline(arrived, config, call.deadline) - arrived
        stop = StopSignal(math.inf, self._monotonic)
        job = self._job(planner, problem, config, call.deadline, stop, found)
        started, result, finished = await self._run(self._lanes.submit(allowed, call.user_id, job), stop)
        elapsed = finished - started

        final_speed, covered = final_state(problem, result.throttles)
        scored = score(problem, config, result.throttles)
        plan = Plan(
            plan_id=self._new_id(),
            request_id=call.request_id,
            user_id=call.user_id,
            created_at=self._now(),
            strategy=strategy,
            game_state=state,
            overrides=overrides,
            throttles=result.throttles,
            score=scored,
            final_speed=final_speed,
            target_distance=problem.distance,
            distance_covered=covered,
            compute_seconds=elapsed,
            arrival=assess(problem, config, result.throttles),
            lower_bound=result.lower_bound,
            # The planner's claim, held to the score as the domain computes it.
            proven_optimal=result.proven_optimal and within_tolerance(scored.total, result.lower_bound),
        )
        await self._repository.add(plan)
        logger.info(
            "planned",
            plan_id=str(plan.plan_id),
            strategy=strategy.value,
            score=plan.score.total,
            ticks=plan.score.ticks,
            gap=plan.optimality_gap,
            iterations=result.iterations,
            compute_ms=round(elapsed * 1000, 3),
            queued_ms=round((started - arrived) * 1000, 3),
        )
        return plan

    async def get_plan(self, plan_id: str, call: CallContext) -> Plan:
        """The plan, if the caller may read it; another user's plan is PlanNotFound, exactly like
        a plan that does not exist, so ids reveal nothing."""
        try:
            key = UUID(plan_id)
        except ValueError:
            raise InvalidInput([FieldViolation("plan_id", "is not a UUID")]) from None
        return await self._repository.get(key, owner=call.owner)

    async def list_plans(self, page_size: int, page_token: str, call: CallContext) -> PlanPage:
        """The plans the caller may read, newest first."""
        if page_size < 0 or page_size > MAX_PAGE_SIZE:
            raise InvalidInput([FieldViolation("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")])
        limit = page_size or DEFAULT_PAGE_SIZE
        # One extra row tells whether another page follows without a count query.
        rows = await self._repository.list(limit + 1, paging.decode(page_token), owner=call.owner)
        plans = tuple(rows[:limit])
        token = paging.encode(plans[-1]) if len(rows) > limit else ""
        return PlanPage(plans=plans, next_page_token=token)

    @staticmethod
    def ticks(plan: Plan) -> Iterator[TickState]:
        problem = Problem.from_game_state(plan.game_state)
        return simulate(problem, plan.throttles)

    def _planning_deadline(self, now: float, config: PlannerConfig, caller_deadline: float | None) -> float:
        deadline = now + config.time_budget_seconds
        if caller_deadline is None:
            return deadline
        remaining = caller_deadline - now
        if remaining < MIN_PLANNING_SECONDS:
            raise DeadlineTooShort(remaining)
        reserve = min(self._answer_reserve, RESERVE_FRACTION * remaining)
        return min(deadline, caller_deadline - reserve)

    def _job(
        self,
        planner: Planner,
        problem: Problem,
        config: PlannerConfig,
        caller_deadline: float | None,
        stop: StopSignal,
        found: Handoff[Improved] | None,
    ) -> Callable[[], tuple[float, PlannerResult, float]]:
        """Planning as a worker thread runs it: (started, result, finished), timed from pick-up.

        The budget starts here, not on arrival, so time spent queued never eats into it; the
        caller's deadline kept running meanwhile, so too little of it left is DeadlineTooShort.
        """

        def job() -> tuple[float, PlannerResult, float]:
            started = self._monotonic()
            stop.deadline = self._planning_deadline(started, config, caller_deadline)
            progress: ProgressSink = UNHEARD
            if found is not None:
                progress = _Reporter(problem, config, started, self._monotonic, found)
            result = planner.plan(problem, config, stop, progress)
            return started, result, self._monotonic()

        return job

    async def _run(
        self, queued: Future[tuple[float, PlannerResult, float]], stop: StopSignal
    ) -> tuple[float, PlannerResult, float]:
        """Wait for the plan, queued in its lane, while the event loop keeps serving; a cancelled
        call stops it. Cancelled while still queued, the job is dropped without running."""
        try:
            return await asyncio.wrap_future(queued)
        except asyncio.CancelledError:
            stop.cancel()
            raise


class _Reporter:
    """The planner's progress sink: scores each improvement in the planner's thread and hands it
    to the loop as an Improved event."""

    def __init__(
        self,
        problem: Problem,
        config: PlannerConfig,
        started: float,
        monotonic: Callable[[], float],
        found: Handoff[Improved],
    ) -> None:
        self._problem, self._config = problem, config
        self._started, self._monotonic = started, monotonic
        self._found = found

    def improved(self, improvement: Improvement) -> None:
        progress = Progress(
            iteration=improvement.iteration,
            elapsed_seconds=self._monotonic() - self._started,
            throttles=improvement.throttles,
            score=score(self._problem, self._config, improvement.throttles),
            lower_bound=improvement.lower_bound,
        )
        self._found.put(Improved(progress))
