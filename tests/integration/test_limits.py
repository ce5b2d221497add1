"""Limits that keep one caller from hurting the others, through the real server and Envoy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests import grpc_web
from tests.conftest import EnvoyProcess, envoy_process, make_settings, sidecar_process
from tests.guided import EOF, SimulatedUnit, start
from tests.rpc_errors import error_info
from tests.support import DEFAULT_STATE_JSON, HANG_GUARD_SECONDS, game_state_pb, wait_for
from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.adapters.grpc.interceptors import REQUEST_ID_HEADER
from throttling_sequencer.app import Application


@dataclass
class Limited:
    app: Application
    envoy: EnvoyProcess


@pytest.fixture(scope="module")
async def limited(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Limited]:
    app = Application(
        make_settings(max_message_bytes=20_000, max_concurrent_streams=2, max_stream_seconds=1.0)
    )
    await app.start()
    assert app.port is not None
    try:
        async with (
            sidecar_process(app.port, tmp_path_factory.mktemp("limited-graphql")) as graphql,
            envoy_process(
                app.port,
                graphql,
                tmp_path_factory.mktemp("limited-envoy"),
                rate_limit_per_second=1,
                rate_limit_burst=3,
                rate_limit_fill_seconds=3600,  # no refill while the module runs: exact counts
            ) as proxy,
        ):
            yield Limited(app, proxy)
    finally:
        await app.stop()


def paced(ticks: int, interval_ms: int) -> pb.StreamThrottleStepsRequest:
    options = planning_pb2.PlannerOptions(
        strategy=planning_pb2.STRATEGY_RANDOM, max_ticks=ticks, min_throttle=1
    )
    return pb.StreamThrottleStepsRequest(
        game_state=game_state_pb(), options=options, tick_interval_ms=interval_ms
    )


async def test_an_oversized_message_is_refused(limited: Limited) -> None:
    state = game_state_pb()
    unit = game_state_pb2.Unit(
        coordinate=game_state_pb2.Coordinate(x=1.5, y=2.5), speed=3.5, mass=4.5, friction=0.5
    )
    state.player_units.extend([unit] * 900)
    assert state.ByteSize() > 40_000  # twice the server's 20 KB limit
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limited.app.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await ThrottlingServiceStub(channel).CreatePlan(pb.CreatePlanRequest(game_state=state))
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_stream_may_not_outlast_its_limit(limited: Limited) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limited.app.port}") as channel:
        received = 0
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            async for _ in ThrottlingServiceStub(channel).StreamThrottleSteps(
                paced(ticks=8, interval_ms=400)
            ):
                received += 1
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error_info(raised.value).reason == "STREAM_TOO_LONG"
    assert 1 <= received < 8


async def test_one_connection_holds_a_bounded_number_of_streams(
    limited: Limited, log_records: list[Any]
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limited.app.port}") as channel:
        stub = ThrottlingServiceStub(channel)

        async def run(n: int) -> int:
            metadata = ((REQUEST_ID_HEADER, f"streams-{n}"),)
            request = paced(ticks=3, interval_ms=250)
            return len([m async for m in stub.StreamThrottleSteps(request, metadata=metadata)])

        assert list(await asyncio.gather(run(0), run(1), run(2))) == [4, 4, 4]  # 3 ticks and done, each
    # In the server's own order of events: the third stream is only planned once one of the
    # first two has ended (it logs "rpc" before its trailers free the slot on the client). Only
    # this test's calls count: the previous test's last "rpc" line may be logged after it ended.
    ours = {f"streams-{n}" for n in range(3)}
    events = [
        r["message"]
        for r in log_records
        if r["message"] in ("planned", "rpc") and r["extra"]["request_id"] in ours
    ]
    assert events[:3] == ["planned", "planned", "rpc"], events


async def test_a_guidance_session_may_not_outlast_the_stream_limit(limited: Limited) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limited.app.port}") as channel:
        session = ThrottlingServiceStub(channel).Guide(timeout=HANG_GUARD_SECONDS)
        await session.write(start(game_state_pb(distance=900.0)))
        assert isinstance(await session.read(), pb.GuideResponse)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await session.read()  # the game never reports: the session ends at the stream limit
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error_info(raised.value).reason == "STREAM_TOO_LONG"


async def test_one_connection_holds_a_bounded_number_of_guidance_sessions(
    limited: Limited, log_records: list[Any]
) -> None:
    game = game_state_pb(distance=4000.0)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limited.app.port}") as channel:
        stub = ThrottlingServiceStub(channel)
        sessions, answers = [], []
        for n in range(2):  # one after the other: concurrent calls may take the streams in any order
            session = stub.Guide(timeout=HANG_GUARD_SECONDS, metadata=((REQUEST_ID_HEADER, f"capped-{n}"),))
            await session.write(start(game))
            answers.append(await session.read())
            sessions.append(session)
        first, second = sessions
        third = stub.Guide(timeout=HANG_GUARD_SECONDS, metadata=((REQUEST_ID_HEADER, "capped-2"),))
        # The client holds the third until a stream is free: its start waits, while the second
        # session goes on (five ticks, answered one by one).
        starting = asyncio.ensure_future(third.write(start(game)))
        unit = SimulatedUnit(game)
        answer = answers[1]
        for _ in range(5):
            await second.write(pb.GuideRequest(observation=unit.step(answer.throttle)))
            answer = await second.read()
        assert not starting.done()
        await first.done_writing()  # ends the first session, which frees its stream
        assert await first.read() is EOF
        await starting
        assert isinstance(await third.read(), pb.GuideResponse)
        for session in (second, third):
            await session.done_writing()
            assert await session.read() is EOF
    # In the server's order of events: the third session is only planned once the first ended.
    ours = {f"capped-{n}" for n in range(3)}
    events = [
        (r["message"], r["extra"]["request_id"])
        for r in log_records
        if r["message"] in ("planned", "rpc") and r["extra"]["request_id"] in ours
    ]
    assert [message for message, _ in events] == ["planned", "planned", "rpc", "planned", "rpc", "rpc"], (
        events
    )
    assert events[2:4] == [("rpc", "capped-0"), ("planned", "capped-2")]


async def test_rest_and_graphql_are_rate_limited_with_a_json_429(limited: Limited) -> None:
    async with httpx.AsyncClient(base_url=limited.envoy.url) as client:
        rest = [
            await client.post("/api/v1/throttle/calculate_throttle_steps", json=DEFAULT_STATE_JSON)
            for _ in range(6)
        ]
        graphql = [
            await client.post("/graphql", json={"query": "{ plans(first: 1) { nextCursor } }"})
            for _ in range(6)
        ]
    for responses in (rest, graphql):
        # A burst of 3 per route, and no refill during the test: exactly 3 answered, 3 refused.
        assert [r.status_code for r in responses] == [200, 200, 200, 429, 429, 429]
        for limited_reply in responses[3:]:
            assert limited_reply.json() == {
                "code": 8,
                "status": "RESOURCE_EXHAUSTED",
                "message": "rate limit exceeded: slow down and retry",
            }


async def test_grpc_web_is_rate_limited_too(limited: Limited) -> None:
    """Browsers' gRPC-Web calls share a bucket (native gRPC, from services, does not). Envoy's
    grpc_web filter reports the 429 as gRPC's mapping of it, UNAVAILABLE, saying why."""
    async with httpx.AsyncClient(base_url=limited.envoy.url) as client:
        replies = [
            await grpc_web.call(client, "/throttling.v1.ThrottlingService/GetStatus", pb.GetStatusRequest())
            for _ in range(6)
        ]
    assert [r.status for r in replies] == [0, 0, 0, 14, 14, 14]
    for refused in replies[3:]:
        assert refused.messages == [] and "rate limit exceeded" in refused.message
    async with grpc.aio.insecure_channel(limited.envoy.url.removeprefix("http://")) as channel:
        for _ in range(4):
            await ThrottlingServiceStub(channel).GetStatus(pb.GetStatusRequest())


async def test_envoy_closes_a_connection_past_its_limit(tmp_path: Path) -> None:
    """THROTTLING_ENVOY_MAX_CONNECTIONS (here 2): with two connections open, Envoy closes a third
    as it accepts it (and counts it); once one of the two closes, a new one is served."""
    app = Application(make_settings())
    await app.start()
    assert app.port is not None
    proxy = EnvoyProcess(app.port, tmp_path, envoy={"max_connections": 2})
    listener = f"listener.127.0.0.1_{proxy.settings.envoy.port}"
    proxy.start()
    held = [httpx.AsyncClient(base_url=proxy.url, limits=httpx.Limits(max_connections=1)) for _ in range(2)]
    try:
        await proxy.wait_healthy()  # on a connection of its own, closed when it returns

        async def open_connections(count: int) -> bool:
            return await proxy.counter(f"{listener}.downstream_cx_active") == count

        await wait_for(lambda: open_connections(0), "the readiness probe's connection to close")
        for client in held:  # keep-alive: each holds its connection open
            assert (await client.get("/api/v1/health")).status_code == 200
        await wait_for(lambda: open_connections(2), "Envoy to count the two held connections")
        async with httpx.AsyncClient(base_url=proxy.url) as third:
            with pytest.raises(httpx.TransportError):
                await third.get("/api/v1/health")
        assert await proxy.counter(f"{listener}.downstream_global_cx_overflow") >= 1
        await held[0].aclose()
        await wait_for(lambda: open_connections(1), "Envoy to see a held connection close")
        async with httpx.AsyncClient(base_url=proxy.url) as fourth:
            assert (await fourth.get("/api/v1/health")).status_code == 200
    finally:
        for client in held:
            await client.aclose()
        proxy.stop()
        await app.stop()
