"""Fair planning through a real server: quick plans never queue behind long ones, and a plan's
budget starts when a worker picks it up, not when it arrived.

Long plans are real genetic plans (max_ticks 1000, 60 s budget) whose planner is held in its
lane after its first generation until the test lets go (or cancels), so "still running" is a
fact the test controls, not a race against the planner's speed. Everything is synchronised on
events: first progress messages, call results, log records.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import grpc
import pytest

from tests.conftest import make_settings
from tests.issuer import Issuer, bearer
from tests.support import HANG_GUARD_SECONDS, game_state_pb, wait_for
from throttling.v1 import planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer import container
from throttling_sequencer.adapters.planners.genetic import GeneticPlanner
from throttling_sequencer.app import Application
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem
from throttling_sequencer.domain.ports import UNHEARD, PlannerResult, ProgressSink, StopSignal
from throttling_sequencer.service.lanes import FairLane, PlanningLanes

#: Plans with this seed are held in their lane after their first generation.
HELD_SEED = 4242
GENETIC = planning_pb2.STRATEGY_GENETIC


class HeldStop(StopSignal):
    """Keeps a planner inside its first poll until released, cancelled or out of time."""

    def __init__(self, inner: StopSignal, release: threading.Event) -> None:
        super().__init__(inner.deadline)
        self._inner, self._release = inner, release

    def should_stop(self) -> bool:
        while not self._release.is_set() and not self._inner.should_stop():
            self._release.wait(0.01)  # the planner thread's poll for a cancel, not test timing
        return self._inner.should_stop()


class HeldGenetic(GeneticPlanner):
    """The real genetic planner; plans seeded HELD_SEED wait after generation 0 until `release`."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def plan(
        self,
        problem: Problem,
        config: PlannerConfig,
        stop: StopSignal,
        progress: ProgressSink = UNHEARD,
    ) -> PlannerResult:
        held = HeldStop(stop, self.release) if config.seed == HELD_SEED else stop
        return super().plan(problem, config, held, progress)


@asynccontextmanager
async def serving(
    monkeypatch: pytest.MonkeyPatch, **settings: Any
) -> AsyncIterator[tuple[ThrottlingServiceStub, HeldGenetic]]:
    held = HeldGenetic()
    monkeypatch.setattr(container, "GeneticPlanner", lambda: held)
    app = Application(make_settings(**settings))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            yield ThrottlingServiceStub(channel), held
    finally:
        held.release.set()
        await app.stop(grace=0.0)


class Streamed:
    """A StreamPlanProgress call read in the background: first message and done are events."""

    def __init__(
        self,
        stub: ThrottlingServiceStub,
        options: planning_pb2.PlannerOptions,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> None:
        request = pb.StreamPlanProgressRequest(game_state=game_state_pb(), options=options)
        self.call = stub.StreamPlanProgress(request, metadata=metadata)
        self.messages: list[pb.StreamPlanProgressResponse] = []
        self.first = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.call:
            self.messages.append(message)
            self.first.set()

    async def started(self) -> None:
        try:
            await asyncio.wait_for(self.first.wait(), HANG_GUARD_SECONDS)
        except TimeoutError:
            raise AssertionError("the plan never reported its first generation") from None

    @property
    def done(self) -> pb.StreamPlanProgressResponse | None:
        last = self.messages[-1] if self.messages else None
        return last if last is not None and last.HasField("done") else None

    async def finished(self) -> pb.StreamPlanProgressResponse:
        await asyncio.wait_for(self.reader, HANG_GUARD_SECONDS)
        assert self.done is not None, "the stream ended without its plan"
        return self.done

    async def cancel(self) -> None:
        self.call.cancel()
        with suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await self.reader


def long_genetic(seed: int = HELD_SEED, **options: Any) -> planning_pb2.PlannerOptions:
    fields = {"max_ticks": 1000, "time_budget_ms": 60_000, **options}
    return planning_pb2.PlannerOptions(strategy=GENETIC, seed=seed, **fields)


async def test_a_default_plan_completes_while_long_plans_fill_their_lane(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with serving(monkeypatch, planner_threads=2, long_planner_threads=2) as (stub, _):
        running = []
        for _ in range(2):  # every long-lane thread busy...
            plan = Streamed(stub, long_genetic())
            await plan.started()
            running.append(plan)
        queued = Streamed(stub, long_genetic())  # ...and one more waiting for them
        try:
            reply = await stub.CreatePlan(
                pb.CreatePlanRequest(game_state=game_state_pb()), timeout=HANG_GUARD_SECONDS
            )
            assert reply.plan.strategy == planning_pb2.STRATEGY_EXACT
            assert reply.plan.lower_bound <= reply.plan.score.total
            # The default plan was answered while the long plans still run or wait.
            assert all(plan.done is None for plan in running)
            assert queued.messages == []
        finally:
            for plan in (*running, queued):
                await plan.cancel()


async def test_a_queued_plan_gets_its_whole_budget_and_a_late_one_a_clean_deadline(
    monkeypatch: pytest.MonkeyPatch, log_records: list[Any]
) -> None:
    # One thread per lane; everything above 100 ms of budget is a long plan.
    async with serving(monkeypatch, planner_threads=1, long_planner_threads=1, quick_plan_ms=100) as (
        stub,
        _,
    ):
        blocker = Streamed(stub, long_genetic())
        await blocker.started()
        budget_ms = 300
        queued = Streamed(stub, long_genetic(seed=7, max_ticks=20, time_budget_ms=budget_ms))
        # A caller whose deadline runs out while queued gets DEADLINE_EXCEEDED, cleanly; its
        # deadline also witnesses that the queued plan waited longer than its own budget.
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await stub.CreatePlan(
                pb.CreatePlanRequest(game_state=game_state_pb(), options=long_genetic(seed=8)), timeout=0.6
            )
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert not queued.messages
        await blocker.cancel()

        done = (await queued.finished()).done
        planned = [r["extra"] for r in log_records if r["message"] == "planned"]
        mine = next(p for p in planned if p["plan_id"] == done.plan_id)
        # The planner ran generations: its budget started when it left the queue. (Timed from
        # arrival, the budget was spent in the queue and generation 0 came back as the plan.)
        assert mine["iterations"] >= 1
        assert [p for p in planned if p["strategy"] == "genetic" and p["plan_id"] != done.plan_id] == []
        errors = [
            (r["message"], r["extra"], r["exception"]) for r in log_records if r["level"].name == "ERROR"
        ]
        assert not errors, errors


class PermitStop(StopSignal):
    """Keeps a planner inside its first poll until it takes a permit, or is cancelled."""

    def __init__(self, inner: StopSignal, permits: threading.Semaphore) -> None:
        super().__init__(inner.deadline)
        self._inner, self._permits, self._taken = inner, permits, False

    def should_stop(self) -> bool:
        while not self._taken and not self._inner.cancelled:
            self._taken = self._permits.acquire(timeout=0.01)  # the planner thread's poll for a cancel
        return self._inner.should_stop()


class PermitGenetic(GeneticPlanner):
    """The real genetic planner; plans seeded HELD_SEED each wait for a permit after generation 0."""

    def __init__(self) -> None:
        super().__init__()
        self.permits = threading.Semaphore(0)

    def plan(
        self,
        problem: Problem,
        config: PlannerConfig,
        stop: StopSignal,
        progress: ProgressSink = UNHEARD,
    ) -> PlannerResult:
        held = PermitStop(stop, self.permits) if config.seed == HELD_SEED else stop
        return super().plan(problem, config, held, progress)


async def test_one_callers_queue_never_holds_up_another_callers_plan(
    monkeypatch: pytest.MonkeyPatch, log_records: list[Any]
) -> None:
    """Plans that fit the quick lane but use their whole budget (here: held until the test gives
    each a permit) fill it; the caller queues more. Another caller's default plan takes the next
    free thread, ahead of that queue: it is answered while those plans have not even started."""
    issuer = Issuer()
    issuer.add_key("k1")
    issuer.serve()
    planner = PermitGenetic()
    monkeypatch.setattr(container, "GeneticPlanner", lambda: planner)
    # One quick thread; every plan here is a quick one.
    app = Application(make_settings(auth_issuer=issuer.url, planner_threads=1, quick_plan_ms=60_000))
    await app.start()
    greedy, other = bearer(issuer.token(sub="greedy")), bearer(issuer.token(sub="other"))
    lane = app.container.resolve(PlanningLanes).quick
    assert isinstance(lane, FairLane)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = ThrottlingServiceStub(channel)
            running = Streamed(stub, long_genetic(), greedy)
            await running.started()
            queued = [Streamed(stub, long_genetic(), greedy) for _ in range(3)]
            await wait_for(lambda: lane.waiting == 3, "the greedy caller's three plans to queue")
            default = asyncio.ensure_future(
                stub.CreatePlan(pb.CreatePlanRequest(game_state=game_state_pb()), metadata=other)
            )
            await wait_for(lambda: lane.waiting == 4, "the other caller's plan to queue")
            planner.permits.release()  # the running plan may finish: one thread is free
            reply = await asyncio.wait_for(default, HANG_GUARD_SECONDS)
            assert reply.plan.user_id == "other"
            # The thread the default plan freed may already have taken one of the queue (held
            # by its permit); none of the three has been answered.
            assert lane.waiting >= 2 and all(plan.done is None for plan in queued)
            planner.permits.release(len(queued))
            for plan in (running, *queued):
                assert (await plan.finished()).done.user_id == "greedy"
    finally:
        planner.permits.release(8)
        await app.stop(grace=0.0)
        issuer.stop()
