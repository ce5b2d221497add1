"""The betterproto2 typed client from gen/, sync (grpcio) and async (grpclib), against a real server."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpclib.client import Channel
from grpclib.exceptions import GRPCError

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
