"""The betterproto2 typed client from gen/, sync (grpcio) and async (grpclib), against a real server."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from grpclib.client import Channel
from grpclib.exceptions import GRPCError

from throttling_client.google import rpc
from throttling_client.throttling import v1 as client
from throttling_sequencer.app import Application


def request(mass: float = 10.0) -> client.CreatePlanRequest:
    return client.CreatePlanRequest(
        game_state=client.GameState(
            player_units=[client.Unit(coordinate=client.Coordinate(x=0, y=0), mass=mass, friction=0.01)],
            enemy_units=[client.Unit(coordinate=client.Coordinate(x=800, y=600), mass=50, friction=0.5)],
        ),
        options=client.PlannerOptions(strategy=client.Strategy.RANDOM, seed=5),
    )


def sync_round_trip(port: int) -> tuple[client.Plan, list[client.StreamThrottleStepsResponse]]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = client.ThrottlingServiceStub(channel)
        plan = stub.create_plan(request()).plan
        stream = list(
            stub.stream_throttle_steps(
                client.StreamThrottleStepsRequest(game_state=request().game_state, options=request().options)
            )
        )
    assert plan is not None
    return plan, stream


async def test_sync_client_plans_and_streams(app: Application) -> None:
    assert app.port is not None
    plan, stream = await asyncio.to_thread(sync_round_trip, app.port)
    assert plan.target_distance == 1000.0
    assert plan.strategy == client.Strategy.RANDOM
    assert plan.goals and all(g.coordinate == client.Coordinate(x=800, y=600) for g in plan.goals)
    assert stream[-1].done is not None and stream[-1].done.total_ticks == len(stream) - 1


async def test_async_client_plans_and_sees_validation_errors(app: Application) -> None:
    assert app.port is not None
    channel = Channel("127.0.0.1", app.port)
    try:
        stub = client.ThrottlingServiceAsyncStub(channel)
        plan = (await stub.create_plan(request())).plan
        assert plan is not None
        fetched = (await stub.get_plan(client.GetPlanRequest(plan_id=plan.plan_id))).plan
        assert fetched == plan
        with pytest.raises(GRPCError) as raised:
            await stub.create_plan(request(mass=-1))
        assert raised.value.status.name == "INVALID_ARGUMENT"
        assert "game_state.player_units[0].mass" in (raised.value.message or "")
    finally:
        channel.close()


def batch_round_trip(port: int) -> client.CreatePlanBatchResponse:
    single = request().game_state
    assert single is not None
    bad = client.Unit(coordinate=client.Coordinate(), mass=-1)
    state = client.GameState(player_units=[single.player_units[0], bad], enemy_units=single.enemy_units)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = client.ThrottlingServiceStub(channel)
        return stub.create_plan_batch(
            client.CreatePlanBatchRequest(game_state=state, options=request().options)
        )


async def test_sync_client_plans_a_batch_and_reads_each_units_error(app: Application) -> None:
    assert app.port is not None
    reply = await asyncio.to_thread(batch_round_trip, app.port)
    planned, refused = reply.results
    assert planned.plan is not None and planned.plan.target_distance == 1000.0
    assert planned.assignment == client.Assignment(player_index=0, enemy_index=0)
    assert refused.plan is None and refused.assignment is None and refused.error is not None
    violations = [
        v.field
        for detail in refused.error.details
        if isinstance(found := detail.unpack(), rpc.BadRequest)
        for v in found.field_violations
    ]
    assert violations == ["game_state.player_units[1].mass"]


def guide_state() -> client.GameState:
    return client.GameState(
        player_units=[client.Unit(coordinate=client.Coordinate(x=0, y=0), mass=10, friction=0.1)],
        enemy_units=[client.Unit(coordinate=client.Coordinate(x=600, y=800), mass=50, friction=0.5)],
    )


class Unit:
    """Along the x=0.6t, y=0.8t line, with a friction 20 % above the model's."""

    def __init__(self) -> None:
        self.travelled, self.speed, self.tick = 0.0, 0.0, 0

    def step(self, throttle: int) -> client.GuideRequest:
        self.tick += 1
        self.speed = (self.speed + throttle / 10) * (1 - 0.12)
        self.travelled += self.speed
        at = client.Coordinate(x=0.6 * self.travelled, y=0.8 * self.travelled)
        return client.GuideRequest(
            observation=client.Observation(tick=self.tick, coordinate=at, speed=self.speed)
        )


def sync_guidance(port: int) -> tuple[list[client.GuideResponse], Unit]:
    """The sync client sends what an iterator yields: a queue lets the game loop feed it."""
    unit, answers = Unit(), []
    reports: queue.Queue[client.GuideRequest | None] = queue.Queue()
    reports.put(client.GuideRequest(start=client.GuideStart(game_state=guide_state())))

    def messages() -> Iterator[client.GuideRequest]:
        while (message := reports.get()) is not None:
            yield message

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            for answer in client.ThrottlingServiceStub(channel).guide(messages()):
                answers.append(answer)
                reports.put(unit.step(answer.throttle))
                if answer.done:  # its observation is the last message: close our side after it
                    reports.put(None)
        finally:
            reports.put(None)
    return answers, unit


async def test_sync_client_is_guided_home(app: Application) -> None:
    assert app.port is not None
    answers, unit = await asyncio.to_thread(sync_guidance, app.port)
    assert answers[-1].done and any(a.replanned for a in answers)
    assert abs(1000.0 - unit.travelled) <= 1.0
    assert answers[-1].estimated_friction == pytest.approx(0.12)


async def test_async_client_is_guided_home(app: Application) -> None:
    assert app.port is not None
    unit, answers = Unit(), []
    reports: asyncio.Queue[client.GuideRequest | None] = asyncio.Queue()
    await reports.put(client.GuideRequest(start=client.GuideStart(game_state=guide_state())))

    async def messages() -> AsyncIterator[client.GuideRequest]:
        while (message := await reports.get()) is not None:
            yield message

    channel = Channel("127.0.0.1", app.port)
    try:
        async for answer in client.ThrottlingServiceAsyncStub(channel).guide(messages()):
            answers.append(answer)
            await reports.put(unit.step(answer.throttle))
            if answer.done:  # its observation is the last message: close our side after it
                await reports.put(None)
    finally:
        await reports.put(None)
        channel.close()
    assert answers[-1].done and any(a.replanned for a in answers)
    assert abs(1000.0 - unit.travelled) <= 1.0
