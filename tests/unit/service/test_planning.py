"""PlanningService with fakes: a scripted planner, the in-memory repository, fixed clocks."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import pytest

from tests.support import READY_WITHIN_SECONDS, game_state
from throttling_sequencer.adapters.storage.memory import InMemoryPlanRepository
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.errors import DeadlineTooShort, FieldViolation, InvalidInput, PlanNotFound
from throttling_sequencer.domain.model import Plan, PlannerOverrides, Problem, Strategy
from throttling_sequencer.domain.physics import score
from throttling_sequencer.domain.ports import (
    UNHEARD,
    Improvement,
    Planner,
    PlannerResult,
    ProgressSink,
    StopSignal,
)
from throttling_sequencer.service.batch import Roster
from throttling_sequencer.service.events import Finished, Improved
from throttling_sequencer.service.lanes import PlanningLanes
from throttling_sequencer.service.planning import (
    BATCH_RESERVE_PER_PLAN_SECONDS,
    DEFAULT_ANSWER_RESERVE_SECONDS,
    CallContext,
    PlanningService,
)


class ScriptedPlanner:
    """Returns a fixed plan; records the stop signal; can block until stopped."""

    strategy = Strategy.EXACT

    def __init__(self, throttles: tuple[int, ...] = (300, 0), block: bool = False) -> None:
        self.throttles = throttles
        self.block = block
        self.stops: list[StopSignal] = []
        self.started = threading.Event()

    def plan(
        self, problem: Problem, config: PlannerConfig, stop: StopSignal, on_progress: object = None
    ) -> PlannerResult:
        self.stops.append(stop)
        self.started.set()
        while self.block and not stop.should_stop():
            threading.Event().wait(0.001)
        return PlannerResult(self.throttles, iterations=1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


def service(
    planner: Planner,
    executor: Executor | PlanningLanes,
    repository: InMemoryPlanRepository | None = None,
    monotonic: Clock | None = None,
    start: datetime | None = None,
    answer_reserve_seconds: float = DEFAULT_ANSWER_RESERVE_SECONDS,
) -> PlanningService:
    times = iter(start + timedelta(seconds=i) for i in range(10**6)) if start else None
    return PlanningService(
        planners={Strategy.EXACT: planner},
        repository=InMemoryPlanRepository() if repository is None else repository,
        executor=executor,
        monotonic=monotonic or Clock(),
        now=(lambda: next(times)) if times else (lambda: datetime.now(UTC)),
        answer_reserve_seconds=answer_reserve_seconds,
    )


CALL = CallContext(request_id="r-1", user_id="u-1")
T = TypeVar("T")


async def test_a_plan_is_scored_stored_and_returned(executor: ThreadPoolExecutor) -> None:
    repository = InMemoryPlanRepository()
    plan = await service(ScriptedPlanner((300, 0)), executor, repository).create_plan(
        game_state(), PlannerOverrides(), CALL
    )
    assert plan.throttles == (300, 0)
    assert plan.score.ticks == 2 and plan.score.nonzero_ticks == 1
    assert (plan.request_id, plan.user_id, plan.strategy) == ("r-1", "u-1", Strategy.EXACT)
    assert plan.distance_covered == pytest.approx(29.7 + 29.7 * 0.99)
    assert await repository.get(plan.plan_id, owner=None) == plan


async def test_the_planning_deadline_is_the_budget_or_the_callers_deadline(
    executor: ThreadPoolExecutor,
) -> None:
    planner, clock = ScriptedPlanner(), Clock()
    planning = service(planner, executor, monotonic=clock)
    await planning.create_plan(game_state(), PlannerOverrides(time_budget_ms=200), CALL)
    await planning.create_plan(
        game_state(), PlannerOverrides(time_budget_ms=5000), CallContext("r", "u", deadline=clock.now + 1.0)
    )
    assert planner.stops[0].deadline == pytest.approx(clock.now + 0.2)
    # A second's deadline: keep back 20 % of it (under the 250 ms reserve) for storing and answering.
    assert planner.stops[1].deadline == pytest.approx(clock.now + 1.0 - 0.2)


@pytest.mark.parametrize(
    ("reserve", "deadline", "kept_back"), [(0.25, 10.0, 0.25), (0.25, 0.5, 0.1), (0.0, 10.0, 0.0)]
)
async def test_the_time_kept_back_for_answering_is_a_fifth_of_what_is_left_up_to_the_reserve(
    executor: ThreadPoolExecutor, reserve: float, deadline: float, kept_back: float
) -> None:
    planner, clock = ScriptedPlanner(), Clock()
    planning = service(planner, executor, monotonic=clock, answer_reserve_seconds=reserve)
    call = CallContext("r", "u", deadline=clock.now + deadline)
    await planning.create_plan(game_state(), PlannerOverrides(time_budget_ms=60_000), call)
    assert planner.stops[0].deadline == pytest.approx(clock.now + deadline - kept_back)


@pytest.mark.parametrize(
    ("units", "deadline", "kept_back"),
    [(1, 10.0, 0.25), (201, 10.0, 0.25 + 200 * BATCH_RESERVE_PER_PLAN_SECONDS), (201, 1.0, 0.2)],
)
async def test_a_batch_keeps_back_time_for_each_plan_it_stores_and_answers(
    executor: ThreadPoolExecutor, units: int, deadline: float, kept_back: float
) -> None:
    """Storing and answering a batch takes longer the more plans it holds: with only a single plan's
    reserve, a large batch that planned up to its deadline answered after it."""
    planner, clock = ScriptedPlanner(), Clock()
    state = game_state()
    bad = InvalidInput([FieldViolation("game_state.player_units[1].mass", "must be in (0, 1e+12]")])
    # An invalid unit is neither planned nor stored: it costs no reserve.
    roster = Roster((state.player_units[0], bad, *state.player_units * (units - 1)), state.enemy_units)
    call = CallContext("r", "u", deadline=clock.now + deadline)
    results = await service(planner, executor, monotonic=clock).create_plan_batch(
        roster, [], PlannerOverrides(time_budget_ms=60_000), call
    )
    assert len(results) == units + 1 and len(planner.stops) == units
    stops = [stop.deadline for stop in planner.stops]
    assert stops == [pytest.approx(clock.now + deadline - kept_back)] * units


class FaultyPlanner(ScriptedPlanner):
    """A planner with a bug that only one unit's problem meets."""

    def plan(
        self, problem: Problem, config: PlannerConfig, stop: StopSignal, on_progress: object = None
    ) -> PlannerResult:
        if problem.mass == 13.0:
            raise ZeroDivisionError("a planner's bug")
        return super().plan(problem, config, stop, on_progress)


async def test_a_fault_planning_one_unit_fails_only_that_units_result(executor: ThreadPoolExecutor) -> None:
    state, faulty = game_state(), game_state(mass=13.0)
    roster = Roster((state.player_units[0], faulty.player_units[0], state.player_units[0]), state.enemy_units)
    results = await service(FaultyPlanner(), executor).create_plan_batch(roster, [], PlannerOverrides(), CALL)
    assert [type(r.outcome).__name__ for r in results] == ["Plan", "UnitFailed", "Plan"]
    assert "quote request id r-1" in str(results[1].outcome)


async def test_too_little_time_left_is_refused_before_planning(executor: ThreadPoolExecutor) -> None:
    planner, clock = ScriptedPlanner(), Clock()
    with pytest.raises(DeadlineTooShort):
        await service(planner, executor, monotonic=clock).create_plan(
            game_state(), PlannerOverrides(), CallContext("r", "u", deadline=clock.now + 0.001)
        )
    assert planner.stops == []


async def test_cancelling_the_call_stops_the_planner_thread(executor: ThreadPoolExecutor) -> None:
    planner = ScriptedPlanner(block=True)
    task = asyncio.create_task(
        service(planner, executor).create_plan(game_state(), PlannerOverrides(time_budget_ms=60_000), CALL)
    )
    assert await asyncio.to_thread(planner.started.wait, READY_WITHIN_SECONDS), "the planner never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert planner.stops[0].cancelled


async def test_an_unavailable_strategy_is_invalid_input(executor: ThreadPoolExecutor) -> None:
    with pytest.raises(InvalidInput) as error:
        await service(ScriptedPlanner(), executor).create_plan(
            game_state(), PlannerOverrides(strategy=Strategy.RANDOM), CALL
        )
    assert error.value.violations[0].field == "options.strategy"


async def test_listing_pages_newest_first_until_the_last_page(executor: ThreadPoolExecutor) -> None:
    planning = service(ScriptedPlanner(), executor, start=datetime(2026, 1, 1, tzinfo=UTC))
    created = [await planning.create_plan(game_state(), PlannerOverrides(), CALL) for _ in range(5)]
    seen, token = [], ""
    for _ in range(3):
        page = await planning.list_plans(2, token, CALL)
        seen += [p.plan_id for p in page.plans]
        token = page.next_page_token
        if not token:
            break
    assert seen == [p.plan_id for p in reversed(created)]
    assert token == ""


def token_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


FORGED_TOKENS = {
    "garbage": "garbage",
    "empty object": "e30",
    "not base64": "!!!",
    "id not a string": token_of('{"t": "2026-01-01T00:00:00+00:00", "id": 5}'),
    "deep nesting": token_of("[" * 100_000 + "]" * 100_000),
    "naive timestamp": token_of('{"t": "2026-01-01T00:00:00", "id": "00000000-0000-4000-8000-000000000000"}'),
    "before the first UTC instant": token_of(
        '{"t": "0001-01-01T00:00:00+05:00", "id": "00000000-0000-4000-8000-000000000000"}'
    ),
}


@pytest.mark.parametrize("token", FORGED_TOKENS.values(), ids=FORGED_TOKENS.keys())
async def test_a_forged_page_token_is_invalid_input(executor: ThreadPoolExecutor, token: str) -> None:
    planning = service(ScriptedPlanner(), executor, start=datetime(2026, 1, 1, tzinfo=UTC))
    await planning.create_plan(game_state(), PlannerOverrides(), CALL)  # a plan to compare the cursor with
    with pytest.raises(InvalidInput) as error:
        await planning.list_plans(10, token, CALL)
    assert error.value.violations[0].field == "page_token"


async def test_get_plan_rejects_a_malformed_id_and_reports_a_missing_one(
    executor: ThreadPoolExecutor,
) -> None:
    planning = service(ScriptedPlanner(), executor)
    with pytest.raises(InvalidInput):
        await planning.get_plan("not-a-uuid", CALL)
    with pytest.raises(PlanNotFound):
        await planning.get_plan(str(UUID(int=0)), CALL)


class GatedPlanner(ScriptedPlanner):
    """Its first plan holds its worker thread until `gate` opens; later plans return at once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def plan(
        self, problem: Problem, config: PlannerConfig, stop: StopSignal, on_progress: object = None
    ) -> PlannerResult:
        first = not self.stops
        result = super().plan(problem, config, stop, on_progress)
        if first:
            assert self.gate.wait(READY_WITHIN_SECONDS), "the test never opened the gate"
        return result


class WatchedPool(ThreadPoolExecutor):
    """A pool that tells when a job has been queued (submit runs on the event loop's thread)."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.submitted = 0
        self.second = threading.Event()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        self.submitted += 1
        if self.submitted == 2:
            self.second.set()
        return super().submit(fn, *args, **kwargs)


async def queue_behind_a_running_plan(
    budget_ms: int, deadline_in: float | None = None, queued_for: float = 10.0
) -> tuple[GatedPlanner, Clock, asyncio.Task[Plan]]:
    """One worker thread busy with a long plan, a second plan queued behind it for `queued_for`
    seconds of the fake clock; returns once the first plan has finished and the second runs."""
    planner, clock, pool = GatedPlanner(), Clock(), WatchedPool(1)
    planning = service(planner, pool, monotonic=clock)
    running = asyncio.create_task(
        planning.create_plan(game_state(), PlannerOverrides(time_budget_ms=60_000), CALL)
    )
    assert await asyncio.to_thread(planner.started.wait, READY_WITHIN_SECONDS), "the planner never started"
    deadline = None if deadline_in is None else clock.now + deadline_in
    queued = asyncio.create_task(
        planning.create_plan(
            game_state(), PlannerOverrides(time_budget_ms=budget_ms), CallContext("r-2", "u", deadline)
        )
    )
    assert await asyncio.to_thread(pool.second.wait, READY_WITHIN_SECONDS), "the second plan was never queued"
    clock.now += queued_for
    planner.gate.set()
    await running
    pool.shutdown(wait=True)
    return planner, clock, queued


async def test_a_queued_plans_budget_starts_when_a_worker_picks_it_up() -> None:
    planner, clock, queued = await queue_behind_a_running_plan(budget_ms=200, queued_for=10.0)
    plan = await queued
    # Ten seconds in the queue, yet the planner got the whole 200 ms from when it started.
    assert planner.stops[1].deadline == pytest.approx(clock.now + 0.2)
    assert plan.compute_seconds == 0.0  # planning time, not queueing time (the fake clock stood still)


async def test_the_callers_deadline_keeps_running_while_the_plan_is_queued() -> None:
    planner, clock, queued = await queue_behind_a_running_plan(budget_ms=200, deadline_in=5.0, queued_for=4.0)
    await queued
    # 1 s of the caller's 5 s left when planning starts: the budget fits, minus the reserve.
    assert planner.stops[1].deadline == pytest.approx(clock.now + 0.2)
    planner, clock, queued = await queue_behind_a_running_plan(
        budget_ms=5000, deadline_in=5.0, queued_for=4.5
    )
    await queued
    assert planner.stops[1].deadline == pytest.approx(clock.now + 0.5 - 0.1)  # 20 % of what is left


async def test_a_plan_dequeued_too_close_to_the_callers_deadline_is_refused_unplanned() -> None:
    planner, _, queued = await queue_behind_a_running_plan(budget_ms=200, deadline_in=1.0, queued_for=0.999)
    with pytest.raises(DeadlineTooShort):
        await queued
    assert len(planner.stops) == 1  # the queued plan never reached the planner


async def test_long_plans_never_hold_up_quick_ones() -> None:
    planner, clock = GatedPlanner(), Clock()
    with ThreadPoolExecutor(1) as quick, ThreadPoolExecutor(1) as long:
        lanes = PlanningLanes(quick=quick, long=long, quick_seconds=1.0)
        planning = service(planner, lanes, monotonic=clock)
        blocked = asyncio.create_task(
            planning.create_plan(game_state(), PlannerOverrides(time_budget_ms=1001), CALL)
        )
        assert await asyncio.to_thread(planner.started.wait, READY_WITHIN_SECONDS), (
            "the planner never started"
        )
        # The long lane's only thread is busy; the default plan (1 s budget) still runs.
        await planning.create_plan(game_state(), PlannerOverrides(), CALL)
        # So does a long budget cut short by the caller's deadline: it cannot take long either.
        call = CallContext("r", "u", deadline=clock.now + 0.5)
        await planning.create_plan(game_state(), PlannerOverrides(time_budget_ms=60_000), call)
        assert not blocked.done()
        planner.gate.set()
        await blocked
    assert len(planner.stops) == 3


async def test_closing_progress_mid_wait_leaves_no_read_pending(executor: ThreadPoolExecutor) -> None:
    """A client cancelling StreamPlanProgress must not leave a queue read behind (asyncio logs
    'Task was destroyed but it is pending!' when it is collected)."""
    planner = ScriptedPlanner(block=True)
    events = service(planner, executor).plan_events(
        game_state(), PlannerOverrides(time_budget_ms=60_000), CALL
    )
    reader = asyncio.ensure_future(anext(events))
    assert await asyncio.to_thread(planner.started.wait, READY_WITHIN_SECONDS), "the planner never started"
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    reads = [t for t in asyncio.all_tasks() if "Queue.get" in repr(t.get_coro())]
    assert all(t.done() or t.cancelling() for t in reads), reads
    assert planner.stops[0].cancelled


class ImprovingPlanner:
    """Reports three ever better plans, then returns the last."""

    strategy = Strategy.EXACT
    PLANS = ((300, 300, 300), (300, 300), (300, 0))

    def plan(
        self, problem: Problem, config: PlannerConfig, stop: StopSignal, progress: ProgressSink = UNHEARD
    ) -> PlannerResult:
        for iteration, throttles in enumerate(self.PLANS):
            progress.improved(Improvement(throttles, iteration, lower_bound=0.5))
        return PlannerResult(self.PLANS[-1], iterations=len(self.PLANS), lower_bound=0.5)


async def test_plan_events_are_each_improvement_in_order_then_the_stored_plan(
    executor: ThreadPoolExecutor,
) -> None:
    repository = InMemoryPlanRepository()
    planning = service(ImprovingPlanner(), executor, repository)
    events = [e async for e in planning.plan_events(game_state(), PlannerOverrides(), CALL)]
    *improved, finished = events
    assert all(isinstance(e, Improved) for e in improved) and isinstance(finished, Finished)
    progress = [e.progress for e in improved if isinstance(e, Improved)]
    assert [p.throttles for p in progress] == list(ImprovingPlanner.PLANS)
    assert [p.iteration for p in progress] == [0, 1, 2]
    config = PlannerConfig()
    assert [p.score for p in progress] == [score(problem_of(), config, t) for t in ImprovingPlanner.PLANS]
    assert progress[-1].optimality_gap == pytest.approx(progress[-1].score.total - 0.5)
    assert finished.plan.throttles == ImprovingPlanner.PLANS[-1]
    assert await repository.get(finished.plan.plan_id, owner=None) == finished.plan


async def test_create_plan_is_the_last_event_of_plan_events(executor: ThreadPoolExecutor) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = iter(UUID(int=n) for n in range(10))
    planned = [
        PlanningService(
            planners={Strategy.EXACT: ImprovingPlanner()},
            repository=InMemoryPlanRepository(),
            executor=executor,
            monotonic=Clock(),
            now=lambda: start,
            new_id=lambda: next(ids),
        )
        for _ in range(2)
    ]
    created = await planned[0].create_plan(game_state(), PlannerOverrides(), CALL)
    *_, last = [e async for e in planned[1].plan_events(game_state(), PlannerOverrides(), CALL)]
    assert isinstance(last, Finished)
    assert created == replace(last.plan, plan_id=created.plan_id)


def problem_of() -> Problem:
    return Problem.from_game_state(game_state())


class ClaimingPlanner(ScriptedPlanner):
    """Claims its plan proven optimal with the given bound (lower_bound offset from the score)."""

    def __init__(self, gap: float) -> None:
        super().__init__((300, 0))
        self.gap = gap

    def plan(
        self, problem: Problem, config: PlannerConfig, stop: StopSignal, on_progress: object = None
    ) -> PlannerResult:
        total = score(problem, config, self.throttles).total
        return PlannerResult(self.throttles, iterations=1, lower_bound=total - self.gap, proven_optimal=True)


@pytest.mark.parametrize(("gap", "proven"), [(0.0, True), (1e-9, True), (1.0, False)])
async def test_proven_optimal_is_the_planners_claim_held_to_the_tolerance(
    executor: ThreadPoolExecutor, gap: float, proven: bool
) -> None:
    """A claim whose bound is further than 1e-6 x max(1, |score|) from the domain's own score of
    the plan is not passed on: `proven_optimal` never says more than the arithmetic supports."""
    repository = InMemoryPlanRepository()
    plan = await service(ClaimingPlanner(gap), executor, repository).create_plan(
        game_state(), PlannerOverrides(), CALL
    )
    assert plan.proven_optimal is proven
    assert (await repository.get(plan.plan_id, owner=None)).proven_optimal is proven
