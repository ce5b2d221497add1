"""The planning use cases: plan a game state within a deadline, store it, read plans back."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID, uuid4

from loguru import logger

from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.errors import (
    DeadlineTooShort,
    FieldViolation,
    InvalidInput,
    ThrottlingError,
    UnitFailed,
)
from throttling_sequencer.domain.model import (
    Assignment,
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
from throttling_sequencer.service import batch, paging
from throttling_sequencer.service.batch import BatchResult, Roster
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
#: What a batch keeps back besides, per plan after its first (within the same fifth of the time
#: left): storing, mapping and sending 1,000 plans of 100 goals took 170-200 ms at load 5 on two
#: cores, most of the reserve, so a batch cut short by its deadline answered too late.
BATCH_RESERVE_PER_PLAN_SECONDS = 0.0005
DEFAULT_PAGE_SIZE = 20
_OVERFLOWS = (
    "is too small: at up to {0.max_throttle} throttle per tick over {0.max_ticks} ticks the unit's "
    "speed and distance overflow the floating-point range (raise the mass or lower max_throttle)"
)
MAX_PAGE_SIZE = 100
_T = TypeVar("_T")


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

    async def create_plan_batch(
        self,
        roster: Roster,
        assignments: Sequence[Assignment],
        overrides: PlannerOverrides,
        call: CallContext,
    ) -> list[BatchResult]:
        """Plan many units of one game state (batch.py says which): in parallel across the
        planner threads, in the caller's turn with other callers; stored together, in one write.

        A unit that cannot be planned (it breaks a rule, or the caller's deadline left it too
        little time: its turn came too late, or had not come when the batch had to answer) gets
        its error in its result; the others are planned regardless. Cancelled,
        the batch's queued plans never start and its running ones stop; nothing is stored.
        """
        how = self._how(overrides)
        arrived = self._monotonic()
        todo = batch.tasks(roster, assignments)
        outcomes: list[Plan | ThrottlingError | _Work | _Queued] = []
        for task in todo:
            if isinstance(task.work, InvalidInput):
                outcomes.append(task.work)
                continue
            try:
                outcomes.append(self._work(task.work, how, overrides, task.unit))
            except InvalidInput as error:
                outcomes.append(error)
        # Every plan of the batch stops in time for all of them to be stored and answered.
        plans = sum(isinstance(item, _Work) for item in outcomes)
        answer_by = None if call.deadline is None else self._answer_by(arrived, call.deadline, plans=plans)
        allowed = self._planning_deadline(arrived, how.config, answer_by, reserve=False) - arrived
        for index, item in enumerate(outcomes):
            if isinstance(item, _Work):
                stop = StopSignal(math.inf, self._monotonic)
                job = self._job(item, how, call, arrived, answer_by, stop, None, reserve=False)
                outcomes[index] = _Queued(item, stop, self._lanes.submit(allowed, call.user_id, job))
        queued = [item for item in outcomes if isinstance(item, _Queued)]
        await _all_done(queued, None if answer_by is None else answer_by - self._monotonic())
        done: list[_Planned] = []
        for index, item in enumerate(outcomes):
            if isinstance(item, _Queued):
                if item.future.cancelled() and answer_by is not None:  # queued when it had to answer
                    outcomes[index] = DeadlineTooShort(answer_by - self._monotonic())
                    continue
                try:
                    planned = item.future.result()
                except ThrottlingError as error:  # this unit only: its turn came too late
                    outcomes[index] = error
                    continue
                except Exception as error:  # a fault of ours with this unit: the others still answer
                    unit = todo[index].unit
                    logger.opt(exception=error).error("unexpected error planning a unit", unit=unit)
                    outcomes[index] = UnitFailed(call.request_id)
                    continue
                outcomes[index] = planned.plan
                done.append(planned)
        await self._repository.add_many([planned.plan for planned in done])
        for planned in done:
            planned.log()
        return [
            BatchResult(task.assignment, outcome)
            for task, outcome in zip(todo, outcomes, strict=True)
            if not isinstance(outcome, _Work | _Queued)
        ]

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

        def job() -> PlannerResult:
            # The budget starts at pick-up, like every plan's (see _job).
            stop.deadline = self._planning_deadline(self._monotonic(), config, call.deadline)
            return planner.plan(problem, config, stop, UNHEARD)

        return await self._run(self._lanes.submit(allowed, call.user_id, job), stop)

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
        how = self._how(overrides)
        work = self._work(state, how, overrides, "game_state.player_units[0]")
        arrived = self._monotonic()
        # Refused at once if the caller's deadline is too close; the lane is chosen by the most
        # time the plan may take. The budget itself starts when a worker picks the plan up.
        allowed = self._planning_deadline(arrived, how.config, call.deadline) - arrived
        stop = StopSignal(math.inf, self._monotonic)
        job = self._job(work, how, call, arrived, call.deadline, stop, found)
        planned = await self._run(self._lanes.submit(allowed, call.user_id, job), stop)
        await self._repository.add(planned.plan)
        planned.log()
        return planned.plan

    def _how(self, overrides: PlannerOverrides) -> _How:
        """The strategy, its planner and the configuration a request asks for."""
        strategy = overrides.strategy or self._default_strategy
        planner = self._planners.get(strategy)
        if planner is None:
            raise InvalidInput([FieldViolation("options.strategy", f"{strategy.value} is not available")])
        return _How(strategy, planner, self.config(overrides))

    @staticmethod
    def _work(state: GameState, how: _How, overrides: PlannerOverrides, unit: str) -> _Work:
        """The problem `state` poses; InvalidInput naming `unit` if its numbers would overflow."""
        problem = Problem.from_game_state(state)
        if not math.isfinite(score_ceiling(problem, how.config)):
            raise InvalidInput([FieldViolation(f"{unit}.mass", _OVERFLOWS.format(how.config))])
        return _Work(state, problem, overrides)

    def _planned(
        self,
        work: _Work,
        how: _How,
        call: CallContext,
        result: PlannerResult,
        started: float,
        finished: float,
        arrived: float,
    ) -> _Planned:
        """The plan the planner's result makes, scored and assessed as the domain defines them."""
        problem, config = work.problem, how.config
        final_speed, covered = final_state(problem, result.throttles)
        scored = score(problem, config, result.throttles)
        plan = Plan(
            plan_id=self._new_id(),
            request_id=call.request_id,
            user_id=call.user_id,
            created_at=self._now(),
            strategy=how.strategy,
            game_state=work.state,
            overrides=work.overrides,
            throttles=result.throttles,
            score=scored,
            final_speed=final_speed,
            target_distance=problem.distance,
            distance_covered=covered,
            compute_seconds=finished - started,
            arrival=assess(problem, config, result.throttles),
            lower_bound=result.lower_bound,
            # The planner's claim, held to the score as the domain computes it.
            proven_optimal=result.proven_optimal and within_tolerance(scored.total, result.lower_bound),
        )
        return _Planned(plan, result.iterations, started - arrived)

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

    def _planning_deadline(
        self, now: float, config: PlannerConfig, caller_deadline: float | None, *, reserve: bool = True
    ) -> float:
        """When a plan starting `now` must stop: at its budget, or before the caller's deadline
        (keeping back time to store and answer, unless `reserve` is off: a batch keeps it back
        once, for all its plans); DeadlineTooShort if too little of it is left."""
        deadline = now + config.time_budget_seconds
        if caller_deadline is None:
            return deadline
        return min(deadline, self._answer_by(now, caller_deadline, reserve=reserve))

    def _answer_by(
        self, now: float, caller_deadline: float, *, reserve: bool = True, plans: int = 1
    ) -> float:
        """The caller's deadline less the time kept back for storing and answering `plans`."""
        remaining = caller_deadline - now
        if remaining < MIN_PLANNING_SECONDS:
            raise DeadlineTooShort(remaining)
        if not reserve:
            return caller_deadline
        kept = self._answer_reserve + max(0, plans - 1) * BATCH_RESERVE_PER_PLAN_SECONDS
        return caller_deadline - min(kept, RESERVE_FRACTION * remaining)

    def _job(
        self,
        work: _Work,
        how: _How,
        call: CallContext,
        arrived: float,
        caller_deadline: float | None,
        stop: StopSignal,
        found: Handoff[Improved] | None,
        *,
        reserve: bool = True,
    ) -> Callable[[], _Planned]:
        """Planning as a worker thread runs it, timed from pick-up: the plan, scored and assessed
        there too, so the event loop only stores and answers it.

        The budget starts here, not on arrival, so time spent queued never eats into it; the
        caller's deadline kept running meanwhile, so too little of it left is DeadlineTooShort.
        """

        def job() -> _Planned:
            started = self._monotonic()
            stop.deadline = self._planning_deadline(started, how.config, caller_deadline, reserve=reserve)
            progress: ProgressSink = UNHEARD
            if found is not None:
                progress = _Reporter(work.problem, how.config, started, self._monotonic, found)
            result = how.planner.plan(work.problem, how.config, stop, progress)
            return self._planned(work, how, call, result, started, self._monotonic(), arrived)

        return job

    async def _run(self, queued: Future[_T], stop: StopSignal) -> _T:
        """Wait for the plan, queued in its lane, while the event loop keeps serving; a cancelled
        call stops it. Cancelled while still queued, the job is dropped without running."""
        try:
            return await asyncio.wrap_future(queued)
        except asyncio.CancelledError:
            stop.cancel()
            raise


@dataclass(frozen=True, slots=True)
class _How:
    """How a request's plans are made: its strategy, that strategy's planner, the configuration."""

    strategy: Strategy
    planner: Planner
    config: PlannerConfig


@dataclass(frozen=True, slots=True)
class _Work:
    """One plan to make: the game state, the problem it poses, the overrides asked for."""

    state: GameState
    problem: Problem
    overrides: PlannerOverrides


@dataclass(frozen=True, slots=True)
class _Planned:
    """A plan made, with what its log line says besides the plan."""

    plan: Plan
    iterations: int
    queued_seconds: float

    def log(self) -> None:
        plan = self.plan
        logger.info(
            "planned",
            plan_id=str(plan.plan_id),
            strategy=plan.strategy.value,
            score=plan.score.total,
            ticks=plan.score.ticks,
            gap=plan.optimality_gap,
            iterations=self.iterations,
            compute_ms=round(plan.compute_seconds * 1000, 3),
            queued_ms=round(self.queued_seconds * 1000, 3),
        )


@dataclass(frozen=True, slots=True)
class _Queued:
    """A batch's plan handed to a planner thread: its stop signal and its future result."""

    work: _Work
    stop: StopSignal
    future: Future[_Planned]


async def _all_done(queued: list[_Queued], within: float | None = None) -> None:
    """Wait until every queued plan has finished: one wake-up of the loop for the whole batch.

    After `within` seconds (when the batch must answer) the plans still queued are dropped unrun,
    and the running ones, which stop by then, are waited for: however busy the threads are with
    other plans, the batch answers in time. Cancelled, the plans still queued are dropped unrun and
    the running ones told to stop.
    """
    if not queued:
        return
    loop = asyncio.get_running_loop()
    everything = loop.create_future()
    left = len(queued)
    lock = threading.Lock()

    def finished(_: Future[_Planned]) -> None:
        nonlocal left
        with lock:
            left -= 1
            last = left == 0
        if last:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_resolve, everything)

    for item in queued:
        item.future.add_done_callback(finished)
    try:
        if within is not None:
            await asyncio.wait([everything], timeout=max(0.0, within))
            for item in queued:
                item.future.cancel()  # a plan not yet started; a running or finished one stays
        await everything
    except asyncio.CancelledError:
        for item in queued:
            item.future.cancel()
            item.stop.cancel()
        raise


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
