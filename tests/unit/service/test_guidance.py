"""GuidanceService with fakes: how a session stores its plan, re-plans, and ends."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support import within
from throttling_sequencer.adapters.planners.exact import ExactPlanner
from throttling_sequencer.adapters.storage.memory import InMemoryPlanRepository
from throttling_sequencer.domain.errors import StorageUnavailable
from throttling_sequencer.domain.guidance import Observation
from throttling_sequencer.domain.model import Coordinate, GameState, Plan, PlannerOverrides, Strategy, Unit
from throttling_sequencer.domain.ports import StopSignal
from throttling_sequencer.service.guidance import REPLAN_WORK, GuidanceService
from throttling_sequencer.service.planning import CallContext, PlanningService

STATE = GameState(
    player_units=(Unit(Coordinate(0.0, 0.0), 0.0, 10.0, 0.1),),
    enemy_units=(Unit(Coordinate(1200.0, 0.0), 0.0, 50.0, 0.5),),
)
CALL = CallContext("req-1", "player-1")


class CountingExact(ExactPlanner):
    """The exact planner, recording the stop signal of each plan."""

    def __init__(self) -> None:
        self.stops: list[StopSignal] = []

    def plan(self, problem: Any, config: Any, stop: StopSignal, progress: Any = None) -> Any:
        self.stops.append(stop)
        return super().plan(problem, config, stop)


class HeldRepository(InMemoryPlanRepository):
    """Stores like the in-memory one; the second write of a plan waits for `release`, or fails."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.release = asyncio.Event()
        self.writing = asyncio.Event()
        self.writes: list[Plan] = []

    async def add(self, plan: Plan) -> None:
        if plan.guidance is not None:
            self.writing.set()
            if self.fail:
                raise StorageUnavailable("database away")
            await self.release.wait()
        self.writes.append(plan)
        await super().add(plan)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1) as executor:
        yield executor


def service(
    repository: InMemoryPlanRepository, pool: ThreadPoolExecutor, planner: ExactPlanner
) -> GuidanceService:
    planning = PlanningService({Strategy.EXACT: planner}, repository, pool)
    return GuidanceService(planning, repository)


async def test_the_initial_plan_is_stored_and_re_plans_are_not_and_get_a_work_budget(
    pool: ThreadPoolExecutor,
) -> None:
    repository, planner = HeldRepository(), CountingExact()
    session = await service(repository, pool, planner).start(STATE, PlannerOverrides(), CALL)
    assert repository.writes == [session.plan] and session.plan.user_id == "player-1"
    first = session.first_tick()
    tick = await session.observe(Observation(1, Coordinate(first.speed * 0.5, 0.0), first.speed * 0.5))
    assert tick is not None and tick.replanned
    assert len(planner.stops) == 2 and planner.stops[1]._work == REPLAN_WORK
    assert repository.writes == [session.plan]  # the re-plan was not stored
    repository.release.set()
    summary = await session.close()
    assert repository.writes[-1].guidance == summary and summary.replans == 1
    assert await session.close() == summary and len(repository.writes) == 2  # stored once


async def test_a_cancelled_session_still_stores_its_summary_before_it_ends(pool: ThreadPoolExecutor) -> None:
    repository = HeldRepository()
    session = await service(repository, pool, ExactPlanner()).start(STATE, PlannerOverrides(), CALL)
    closing = asyncio.ensure_future(session.close())
    await within(repository.writing.wait(), "the summary's write to begin")
    closing.cancel()  # the caller went away, or the server stops
    await asyncio.sleep(0)  # let the cancel land
    assert not closing.done()  # the session waits for its write
    repository.release.set()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert repository.writes[-1].guidance is not None


async def test_a_summary_the_store_refuses_is_logged_and_the_session_ends(
    pool: ThreadPoolExecutor, log_records: list[Any]
) -> None:
    repository = HeldRepository(fail=True)
    session = await service(repository, pool, ExactPlanner()).start(STATE, PlannerOverrides(), CALL)
    summary = await session.close()
    assert not summary.completed and summary.ticks == 0 and math.isclose(summary.final_miss, 1200.0)
    errors = [r for r in log_records if r["message"] == "the session's summary was not stored"]
    assert errors and errors[0]["extra"]["plan_id"] == str(session.plan_id)
