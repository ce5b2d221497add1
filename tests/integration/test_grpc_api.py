"""ThrottlingService through a real grpc.aio server on an ephemeral port."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests import raw_grpc
from tests.conftest import make_settings
from tests.rpc_errors import error_info
from tests.support import (
    FAR,
    LONGEST,
    free_port,
    game_state_pb,
    problem,
    rpc_logged,
    wait_for,
    wait_until,
)
from throttling.v1 import planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import (
    ThrottlingServiceStub,
    add_ThrottlingServiceServicer_to_server,
)
from throttling_sequencer import container as composition
from throttling_sequencer.adapters.grpc.servicer import ThrottlingServicer
from throttling_sequencer.adapters.grpc.validation import Limits
from throttling_sequencer.adapters.planners.genetic import GeneticParameters, GeneticPlanner
from throttling_sequencer.app import Application
from throttling_sequencer.container import KernelWarmUp
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.errors import StorageUnavailable
from throttling_sequencer.domain.model import Plan
from throttling_sequencer.domain.physics import score, simulate
from throttling_sequencer.domain.ports import PlannerResult, PlanRepository
from throttling_sequencer.service.guidance import GuidanceService
from throttling_sequencer.service.planning import PlanningService

RANDOM = planning_pb2.PlannerOptions(strategy=planning_pb2.STRATEGY_RANDOM, seed=11)
SERVICE = "throttling.v1.ThrottlingService"
#: Turns a hang into a failure; what it guards takes milliseconds.
HANG_GUARD_SECONDS = 120.0


def create(options: planning_pb2.PlannerOptions = RANDOM, **kwargs: Any) -> pb.CreatePlanRequest:
    return pb.CreatePlanRequest(game_state=game_state_pb(**kwargs), options=options)


async def test_create_plan_answers_a_consistent_stored_plan(stub: ThrottlingServiceStub) -> None:
    plan = (await stub.CreatePlan(create())).plan
    throttles = [g.throttle for g in plan.goals]
    recomputed = score(problem(), PlannerConfig(), throttles)
    assert plan.score.total == recomputed.total
    assert plan.score.distance_error == recomputed.distance_error
    assert plan.distance_remaining == pytest.approx(plan.target_distance - plan.distance_covered)
    assert plan.target_distance == 5000.0
    assert all((g.coordinate.x, g.coordinate.y) == (5000.0, 0.0) for g in plan.goals)
    assert plan.strategy == planning_pb2.STRATEGY_RANDOM
    assert plan.user_id == "anonymous" and plan.request_id
    assert plan.compute_time.ToNanoseconds() > 0
    assert plan.options.seed == 11 and not plan.options.HasField("max_ticks")
    stored = (await stub.GetPlan(pb.GetPlanRequest(plan_id=plan.plan_id))).plan
    assert stored == plan


async def test_calculate_throttle_steps_returns_the_same_goals(stub: ThrottlingServiceStub) -> None:
    full = (await stub.CreatePlan(create())).plan
    goals = (
        await stub.CalculateThrottleSteps(
            pb.CalculateThrottleStepsRequest(game_state=game_state_pb(), options=RANDOM)
        )
    ).goals
    assert list(goals) == list(full.goals)


async def test_overrides_shape_the_plan(stub: ThrottlingServiceStub) -> None:
    options = planning_pb2.PlannerOptions(
        strategy=planning_pb2.STRATEGY_GENETIC,
        max_ticks=5,
        min_throttle=10,
        max_throttle=20,
        seed=1,
        time_budget_ms=100,
    )
    plan = (await stub.CreatePlan(create(options))).plan
    assert 1 <= len(plan.goals) <= 5
    assert all(10 <= g.throttle <= 20 for g in plan.goals)
    assert plan.strategy == planning_pb2.STRATEGY_GENETIC


async def test_default_strategy_is_exact_with_a_certified_gap(stub: ThrottlingServiceStub) -> None:
    plan = (await stub.CreatePlan(create(planning_pb2.PlannerOptions()))).plan
    assert plan.strategy == planning_pb2.STRATEGY_EXACT
    assert plan.HasField("lower_bound") and plan.lower_bound <= plan.score.total
    assert plan.optimality_gap == pytest.approx(plan.score.total - plan.lower_bound)
    # The default payload is speed-limited: it reaches the target, too fast to avoid a penalty.
    assert plan.arrival == planning_pb2.ARRIVAL_TOO_FAST
    assert plan.score.distance_error < 1e-3


async def test_heuristic_strategies_carry_no_bound(stub: ThrottlingServiceStub) -> None:
    plan = (await stub.CreatePlan(create())).plan
    assert not plan.HasField("lower_bound") and not plan.HasField("optimality_gap")


@pytest.mark.parametrize(
    ("state", "arrival"),
    [
        ({"distance": 900.0, "mass": 30.0, "friction": 0.1}, planning_pb2.ARRIVAL_ON_TARGET),
        ({"distance": 100.0}, planning_pb2.ARRIVAL_OFF_TARGET),
        ({"distance": 1e6}, planning_pb2.ARRIVAL_UNREACHABLE),
        ({"distance": 10.0, "speed": 500.0}, planning_pb2.ARRIVAL_OVERSHOOT_UNAVOIDABLE),
    ],
    ids=["reachable", "a miss is cheaper than another tick", "unreachable", "already too fast"],
)
async def test_the_answer_says_what_the_plan_achieves(
    stub: ThrottlingServiceStub, state: dict[str, float], arrival: int
) -> None:
    plan = (await stub.CreatePlan(create(planning_pb2.PlannerOptions(), **state))).plan
    assert plan.arrival == arrival
    assert plan.lower_bound <= plan.score.total


async def test_plan_progress_streams_improvements_then_the_stored_plan(stub: ThrottlingServiceStub) -> None:
    options = planning_pb2.PlannerOptions(strategy=planning_pb2.STRATEGY_GENETIC, seed=3, time_budget_ms=300)
    request = pb.StreamPlanProgressRequest(game_state=game_state_pb(), options=options)
    messages = [m async for m in stub.StreamPlanProgress(request)]
    *progress, last = messages
    assert progress and all(m.WhichOneof("event") == "progress" for m in progress)
    assert last.WhichOneof("event") == "done"
    totals = [m.progress.score.total for m in progress]
    assert totals == sorted(totals, reverse=True) and len(set(totals)) == len(totals)
    assert [m.progress.iteration for m in progress] == sorted(m.progress.iteration for m in progress)
    assert last.done.score.total <= totals[-1]
    stored = (await stub.GetPlan(pb.GetPlanRequest(plan_id=last.done.plan_id))).plan
    assert stored == last.done


async def test_exact_progress_carries_its_bound(stub: ThrottlingServiceStub) -> None:
    request = pb.StreamPlanProgressRequest(game_state=game_state_pb(distance=900.0, mass=30.0, friction=0.1))
    messages = [m async for m in stub.StreamPlanProgress(request)]
    progress = [m.progress for m in messages[:-1]]
    assert progress and all(p.lower_bound <= p.score.total for p in progress)
    assert messages[-1].done.optimality_gap == pytest.approx(progress[-1].optimality_gap)


class RecordingGenetic(GeneticPlanner):
    """The real genetic planner, remembering how many generations each search ran."""

    generations: ClassVar[list[int]] = []

    def plan(self, *args: Any, **kwargs: Any) -> PlannerResult:
        result = super().plan(*args, **kwargs)
        self.generations.append(result.iterations)
        return result


async def test_cancelling_plan_progress_stops_the_planner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(composition, "GeneticPlanner", RecordingGenetic)
    monkeypatch.setattr(RecordingGenetic, "generations", [])
    app = Application(make_settings())
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            call = ThrottlingServiceStub(channel).StreamPlanProgress(
                pb.StreamPlanProgressRequest(game_state=FAR, options=LONGEST)
            )
            assert (await call.read()).WhichOneof("event") == "progress"
            call.cancel()
            await wait_for(lambda: bool(RecordingGenetic.generations), "the cancelled search to return")
    finally:
        await app.stop()
    # Stopped by the cancel, not by running out of generations (seconds of work at 1,000 ticks).
    assert RecordingGenetic.generations[0] < GeneticParameters().generations


async def test_stream_sends_every_tick_then_done(stub: ThrottlingServiceStub) -> None:
    messages = [
        m
        async for m in stub.StreamThrottleSteps(
            pb.StreamThrottleStepsRequest(game_state=game_state_pb(), options=RANDOM)
        )
    ]
    *ticks, last = messages
    assert all(m.WhichOneof("event") == "tick" for m in ticks)
    assert last.WhichOneof("event") == "done"
    plan = (await stub.GetPlan(pb.GetPlanRequest(plan_id=last.done.plan_id))).plan
    assert [m.tick.goal for m in ticks] == list(plan.goals)
    expected = list(simulate(problem(), [g.throttle for g in plan.goals]))
    assert [m.tick.tick for m in ticks] == [s.tick for s in expected]
    assert [m.tick.speed for m in ticks] == [s.speed for s in expected]
    assert ticks[-1].tick.distance_remaining == pytest.approx(plan.distance_remaining)
    assert last.done.total_ticks == len(ticks) == ticks[0].tick.total_ticks
    assert last.done.score == plan.score


class PacingRecorder(ThrottlingServicer):
    """The real servicer on a recorded clock: its pauses and the ticks it sends, in order."""

    def __init__(self, app: Application) -> None:
        self.events: list[tuple[str, float]] = []
        resolve = app.container.resolve
        super().__init__(
            resolve(PlanningService), resolve(GuidanceService), resolve(Limits), pause=self._paused
        )

    async def _paused(self, seconds: float) -> None:
        await asyncio.sleep(0)  # a pause that is not awaited is recorded after the tick it should precede
        self.events.append(("pause", seconds))

    async def StreamThrottleSteps(
        self, request: pb.StreamThrottleStepsRequest, context: Any
    ) -> AsyncIterator[pb.StreamThrottleStepsResponse]:
        async for message in super().StreamThrottleSteps(request, context):
            self.events.append((message.WhichOneof("event"), message.tick.tick))
            yield message


async def test_stream_paces_ticks() -> None:
    """The server waits tick_interval_ms before every tick but the first, and sends it after the
    wait: asserted on the order of the server's own pauses and sends, never on a clock."""
    app = Application(make_settings())
    recorder = PacingRecorder(app)
    app.container.register(ThrottlingServicer, instance=recorder)
    options = planning_pb2.PlannerOptions(strategy=planning_pb2.STRATEGY_RANDOM, max_ticks=3, seed=2)
    request = pb.StreamThrottleStepsRequest(game_state=game_state_pb(), options=options, tick_interval_ms=40)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            messages = [m async for m in ThrottlingServiceStub(channel).StreamThrottleSteps(request)]
    finally:
        await app.stop()
    ticks = [m.tick.tick for m in messages[:-1]]
    assert ticks == list(range(1, messages[0].tick.total_ticks + 1)) and messages[-1].HasField("done")
    paced = [("tick", 1)] + [event for n in ticks[1:] for event in (("pause", 0.04), ("tick", n))]
    assert recorder.events == [*paced, ("done", 0)]


async def test_cancelling_a_stream_reaches_the_server(
    stub: ThrottlingServiceStub, log_records: list[Any]
) -> None:
    call = stub.StreamThrottleSteps(
        pb.StreamThrottleStepsRequest(game_state=game_state_pb(), options=RANDOM, tick_interval_ms=5000)
    )
    first = await call.read()
    assert first.WhichOneof("event") == "tick"
    call.cancel()

    await asyncio.to_thread(wait_until, rpc_logged(log_records, "StreamThrottleSteps", "CANCELLED"))


async def test_list_plans_is_newest_first_and_pages(stub: ThrottlingServiceStub) -> None:
    created = [(await stub.CreatePlan(create())).plan.plan_id for _ in range(3)]
    first = await stub.ListPlans(pb.ListPlansRequest(page_size=2))
    assert [p.plan_id for p in first.plans] == created[::-1][:2]
    second = await stub.ListPlans(pb.ListPlansRequest(page_size=2, page_token=first.next_page_token))
    assert second.plans[0].plan_id == created[0]


async def test_unknown_plan_is_not_found_with_its_id(stub: ThrottlingServiceStub) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetPlan(pb.GetPlanRequest(plan_id=missing))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    info = error_info(raised.value)
    assert (info.reason, info.metadata["plan_id"]) == ("PLAN_NOT_FOUND", missing)


async def test_invalid_input_names_its_fields_in_error_info_as_plain_text(
    stub: ThrottlingServiceStub,
) -> None:
    state = game_state_pb()
    state.player_units[0].mass = -1.0
    state.player_units[0].friction = 2.0
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreatePlan(pb.CreatePlanRequest(game_state=state))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(raised.value)
    assert info.reason == "INVALID_INPUT"
    assert info.metadata["fields"] == "game_state.player_units[0].mass,game_state.player_units[0].friction"


class EndlessGenetic(RecordingGenetic):
    """The real genetic planner with more generations than any test waits for: only its stop
    signal (the budget or the caller's deadline) ends a search."""

    def __init__(self) -> None:
        super().__init__(GeneticParameters(generations=10**9))


async def test_a_deadline_shorter_than_the_budget_still_gets_a_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 60 s budget, a 5 s deadline, a search that never ends by itself: the deadline stops it, a
    fifth of the time left (1 s, hundreds of times what storing and answering take, even at a
    load of 10 on 2 cores) is kept back, and the caller gets the plan, not DEADLINE_EXCEEDED."""
    monkeypatch.setattr(composition, "GeneticPlanner", EndlessGenetic)
    monkeypatch.setattr(RecordingGenetic, "generations", [])
    app = Application(make_settings(answer_reserve_ms=60_000))  # the reserve is 20 % of what is left
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = ThrottlingServiceStub(channel)
            # A first search loads (or, on a fresh checkout, compiles) the GA's kernels, which
            # the server does not yet do before serving (issue 11): not the deadline's business.
            genetic = planning_pb2.PlannerOptions(strategy=planning_pb2.STRATEGY_GENETIC, time_budget_ms=1)
            await stub.CreatePlan(create(genetic))
            genetic.time_budget_ms = 60_000
            response = await stub.CreatePlan(create(genetic), timeout=5.0)
    finally:
        await app.stop()
    assert response.plan.goals and response.plan.strategy == planning_pb2.STRATEGY_GENETIC
    assert 0 < RecordingGenetic.generations[1] < 10**9  # it searched, and the deadline stopped it


async def test_a_deadline_too_short_to_plan_is_deadline_exceeded(stub: ThrottlingServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreatePlan(create(), timeout=0.003)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_a_long_plan_does_not_stall_other_calls(stub: ThrottlingServiceStub) -> None:
    slow = stub.StreamPlanProgress(pb.StreamPlanProgressRequest(game_state=FAR, options=LONGEST))
    assert (await slow.read()).WhichOneof("event") == "progress"  # the long plan is running
    for _ in range(5):
        await stub.ListPlans(pb.ListPlansRequest(page_size=1))
    assert not slow.done(), "quick calls should finish while the genetic planner is still running"
    slow.cancel()


async def test_each_rpc_logs_one_line_with_the_callers_request_id(
    stub: ThrottlingServiceStub, log_records: list[Any]
) -> None:
    call = stub.CreatePlan(create(), metadata=(("x-request-id", "req-abc-123"),))
    plan = (await call).plan
    assert ("x-request-id", "req-abc-123") in tuple(await call.initial_metadata())
    assert plan.request_id == "req-abc-123"
    lines = [r for r in log_records if r["message"] == "rpc" and r["extra"]["request_id"] == "req-abc-123"]
    assert len(lines) == 1
    extra = lines[0]["extra"]
    assert extra["method"] == "/throttling.v1.ThrottlingService/CreatePlan"
    assert extra["status"] == "OK" and extra["duration_ms"] > 0
    assert extra["user_id"] == "anonymous" and len(extra["trace_id"]) == 32


async def test_health_reports_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "throttling.v1.ThrottlingService"):
        response = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_health_watch_streams_the_status(channel: grpc.aio.Channel) -> None:
    """Watch is what a drain announces NOT_SERVING on (the tracing interceptor broke it once)."""
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()


class GatedWarmUp:
    """A kernel warm-up that holds until the test lets it finish."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> None:
        self.started.set()
        assert self.release.wait(HANG_GUARD_SECONDS), "the test never released the warm-up"


async def health_of(channel: grpc.aio.Channel) -> dict[str, int]:
    health = health_pb2_grpc.HealthStub(channel)
    return {
        name: (await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=30)).status
        for name in ("", SERVICE)
    }


async def test_health_is_not_serving_until_the_kernels_are_warm() -> None:
    """Envoy and Kubernetes route to a server only once no request would wait for a compile."""
    app = Application(make_settings())
    warm_up = GatedWarmUp()
    app.container.register(KernelWarmUp, instance=warm_up)
    starting = asyncio.create_task(app.start())
    try:
        assert await asyncio.to_thread(warm_up.started.wait, HANG_GUARD_SECONDS), "warm-up never began"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
            assert await health_of(channel) == {"": not_serving, SERVICE: not_serving}
            assert not starting.done()
            warm_up.release.set()
            assert await starting == app.port
            serving = health_pb2.HealthCheckResponse.SERVING
            assert await health_of(channel) == {"": serving, SERVICE: serving}
    finally:
        warm_up.release.set()
        await asyncio.gather(starting, return_exceptions=True)
        await app.stop()


async def test_a_servicer_served_without_the_request_boundary_refuses_every_call() -> None:
    """Nobody established who is calling: the call fails loudly instead of acting for 'anonymous'."""
    app = Application(make_settings())
    bare = grpc.aio.server()
    add_ThrottlingServiceServicer_to_server(app.container.resolve(ThrottlingServicer), bare)
    port = bare.add_insecure_port("127.0.0.1:0")
    await bare.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await ThrottlingServiceStub(channel).ListPlans(pb.ListPlansRequest(), timeout=30)
    finally:
        await bare.stop(None)
    assert raised.value.code() == grpc.StatusCode.UNKNOWN
    assert "RequestBoundary" in (raised.value.details() or "")


def grpcurl() -> str:
    return str(Path(sys.executable).parent / "grpcurl")


async def test_grpcurl_lists_and_calls_through_reflection(app: Application) -> None:
    target = f"127.0.0.1:{app.port}"
    listed = await asyncio.to_thread(
        subprocess.run, [grpcurl(), "-plaintext", target, "list"], capture_output=True, text=True, timeout=30
    )
    assert set(listed.stdout.split()) >= {
        "throttling.v1.ThrottlingService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    body = (
        '{"game_state": {"player_units": [{"coordinate": {}, "mass": 10}], "enemy_units": ['
        '{"coordinate": {"x": 100}, "mass": 1}]}, "options": {"strategy": "STRATEGY_RANDOM"}}'
    )
    called = await asyncio.to_thread(
        subprocess.run,
        [grpcurl(), "-plaintext", "-d", body, target, f"{SERVICE}/CalculateThrottleSteps"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert called.returncode == 0, called.stderr
    assert '"throttle"' in called.stdout


class FailingRepository:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def add(self, plan: Plan) -> None:
        raise self.error

    async def get(self, plan_id: object) -> Plan:
        raise self.error

    async def list(self, limit: int, after: object) -> list[Plan]:
        raise self.error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (StorageUnavailable("plan store unavailable: connection refused"), grpc.StatusCode.UNAVAILABLE),
        (RuntimeError("secret internals"), grpc.StatusCode.INTERNAL),
    ],
)
async def test_storage_failures_map_to_statuses_without_leaking(
    error: Exception, code: grpc.StatusCode
) -> None:
    app = Application(make_settings())
    app.container.register(PlanRepository, instance=FailingRepository(error))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await ThrottlingServiceStub(channel).CreatePlan(create())
    finally:
        await app.stop()
    assert raised.value.code() == code
    assert "secret" not in (raised.value.details() or "")


async def test_prometheus_metrics_count_rpcs_plans_and_the_backlog() -> None:
    app = Application(make_settings(metrics_port=free_port()))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = ThrottlingServiceStub(channel)
            await stub.CreatePlan(create(planning_pb2.PlannerOptions()))
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.GetPlan(pb.GetPlanRequest(plan_id="nope"))
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{app.metrics_port}/metrics")).text
    finally:
        await app.stop()
    create_plan = 'method="/throttling.v1.ThrottlingService/CreatePlan"'
    assert f'throttling_rpc_total{{{create_plan},status="OK"}}' in text
    assert (
        'throttling_rpc_errors_total{method="/throttling.v1.ThrottlingService/GetPlan",status="INVALID_ARGUMENT"}'
        in text
    )
    assert f'throttling_rpc_duration_seconds_bucket{{le="0.5",{create_plan}}}' in text
    assert 'throttling_plans_total{strategy="exact"}' in text
    assert "throttling_plan_optimality_gap_count" in text
    assert "throttling_pending_writes 0.0" in text


@pytest.mark.parametrize("method", ["GetStatus", "StreamThrottleSteps"], ids=["unary", "server-streaming"])
async def test_a_call_that_ends_without_its_message_is_invalid_argument_at_once(
    app: Application, method: str
) -> None:
    """HEADERS with END_STREAM and no DATA: grpc's own unary path never answered (the call hung
    until the client gave up); the boundary reads the message itself and refuses the call."""
    assert app.port is not None
    reply = await asyncio.to_thread(raw_grpc.call, app.port, f"/throttling.v1.ThrottlingService/{method}")
    assert reply.trailers["grpc-status"] == "3", reply
    assert reply.trailers["grpc-message"] == "invalid request: the call ended without its request message"
    # One message, as any client sends it, is answered as before.
    answered = await asyncio.to_thread(
        raw_grpc.call, app.port, "/throttling.v1.ThrottlingService/GetStatus", b"\0" * 5
    )
    assert answered.trailers["grpc-status"] == "0" and answered.data
