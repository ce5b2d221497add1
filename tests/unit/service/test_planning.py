"""PlanningService with fakes: a scripted planner, the in-memory repository, fixed clocks."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from tests.support import game_state
from throttling_sequencer.adapters.storage.memory import InMemoryPlanRepository
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.errors import DeadlineTooShort, InvalidInput, PlanNotFound
from throttling_sequencer.domain.model import PlannerOverrides, Problem, Strategy
from throttling_sequencer.domain.ports import PlannerResult, StopSignal
from throttling_sequencer.service.planning import CallContext, PlanningService


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
    planner: ScriptedPlanner,
    executor: ThreadPoolExecutor,
    repository: InMemoryPlanRepository | None = None,
    monotonic: Clock | None = None,
    start: datetime | None = None,
) -> PlanningService:
    times = iter(start + timedelta(seconds=i) for i in range(10**6)) if start else None
    return PlanningService(
        planners={Strategy.EXACT: planner},
        repository=InMemoryPlanRepository() if repository is None else repository,
        executor=executor,
        monotonic=monotonic or Clock(),
        now=(lambda: next(times)) if times else (lambda: datetime.now(UTC)),
    )


CALL = CallContext(request_id="r-1", user_id="u-1")


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
    # A second's deadline: keep back min(50 ms, 20 %) for storing and answering.
    assert planner.stops[1].deadline == pytest.approx(clock.now + 1.0 - 0.05)


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
    await asyncio.to_thread(planner.started.wait, 5)
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
