"""Every validation rule, through a real server: INVALID_ARGUMENT naming the field path."""

from __future__ import annotations

import math
from collections.abc import Callable

import grpc
import pytest

from tests.rpc_errors import field_violations
from tests.support import game_state_pb
from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub

Mutation = Callable[[pb.CreatePlanRequest], None]
P0 = "game_state.player_units[0]"


def player(r: pb.CreatePlanRequest) -> game_state_pb2.Unit:
    return r.game_state.player_units[0]


def set_attr(get: Callable[[pb.CreatePlanRequest], object], name: str, value: object) -> Mutation:
    return lambda r: setattr(get(r), name, value)


def option(name: str, value: object) -> Mutation:
    return lambda r: setattr(r.options, name, value)


def too_many_units(r: pb.CreatePlanRequest) -> None:
    r.game_state.player_units.extend([player(r)] * 1000)


CASES: list[tuple[str, Mutation, str]] = [
    ("no game state", lambda r: r.ClearField("game_state"), "game_state"),
    ("no player units", lambda r: r.game_state.ClearField("player_units"), "game_state.player_units"),
    ("no enemy units", lambda r: r.game_state.ClearField("enemy_units"), "game_state.enemy_units"),
    ("too many units", too_many_units, "game_state.player_units"),
    ("missing coordinate", lambda r: player(r).ClearField("coordinate"), f"{P0}.coordinate"),
    ("NaN x", set_attr(lambda r: player(r).coordinate, "x", math.nan), f"{P0}.coordinate.x"),
    ("infinite y", set_attr(lambda r: player(r).coordinate, "y", -math.inf), f"{P0}.coordinate.y"),
    ("absurd coordinate", set_attr(lambda r: player(r).coordinate, "x", 1e12), f"{P0}.coordinate.x"),
    ("negative speed", set_attr(player, "speed", -1.0), f"{P0}.speed"),
    ("NaN speed", set_attr(player, "speed", math.nan), f"{P0}.speed"),
    ("zero mass", set_attr(player, "mass", 0.0), f"{P0}.mass"),
    ("negative mass", set_attr(player, "mass", -10.0), f"{P0}.mass"),
    ("infinite mass", set_attr(player, "mass", math.inf), f"{P0}.mass"),
    ("friction 1", set_attr(player, "friction", 1.0), f"{P0}.friction"),
    ("negative friction", set_attr(player, "friction", -0.1), f"{P0}.friction"),
    ("NaN friction", set_attr(player, "friction", math.nan), f"{P0}.friction"),
    (
        "invalid enemy",
        set_attr(lambda r: r.game_state.enemy_units[0], "mass", 0.0),
        "game_state.enemy_units[0].mass",
    ),
    ("unknown strategy", option("strategy", 99), "options.strategy"),
    ("negative distance weight", option("distance_weight", -1.0), "options.distance_weight"),
    ("NaN speed weight", option("speed_weight", math.nan), "options.speed_weight"),
    ("huge length weight", option("length_weight", 1e7), "options.length_weight"),
    ("infinite nonzero weight", option("nonzero_weight", math.inf), "options.nonzero_weight"),
    ("negative speed threshold", option("speed_threshold", -1.0), "options.speed_threshold"),
    ("negative min throttle", option("min_throttle", -1), "options.min_throttle"),
    ("min above default max throttle", option("min_throttle", 301), "options.min_throttle"),
    ("zero max throttle", option("max_throttle", 0), "options.max_throttle"),
    ("huge max throttle", option("max_throttle", 20_000), "options.max_throttle"),
    ("zero max ticks", option("max_ticks", 0), "options.max_ticks"),
    ("too many max ticks", option("max_ticks", 1001), "options.max_ticks"),
    ("zero time budget", option("time_budget_ms", 0), "options.time_budget_ms"),
    ("huge time budget", option("time_budget_ms", 70_000), "options.time_budget_ms"),
]


def valid_request() -> pb.CreatePlanRequest:
    return pb.CreatePlanRequest(
        game_state=game_state_pb(), options=planning_pb2.PlannerOptions(strategy=planning_pb2.STRATEGY_RANDOM)
    )


async def test_the_valid_baseline_request_is_accepted(stub: ThrottlingServiceStub) -> None:
    response = await stub.CreatePlan(valid_request())
    assert response.plan.goals


@pytest.mark.parametrize(("mutate", "field"), [(m, f) for _, m, f in CASES], ids=[c[0] for c in CASES])
async def test_each_rule_is_reported_on_its_field(
    stub: ThrottlingServiceStub, mutate: Mutation, field: str
) -> None:
    request = valid_request()
    mutate(request)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreatePlan(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(raised.value)
    assert field in violations, violations
    assert violations[field]


async def test_every_violation_is_reported_at_once(stub: ThrottlingServiceStub) -> None:
    request = valid_request()
    player(request).mass = 0
    player(request).friction = 2
    request.options.max_ticks = 0
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CalculateThrottleSteps(
            pb.CalculateThrottleStepsRequest(game_state=request.game_state, options=request.options)
        )
    assert set(field_violations(raised.value)) == {f"{P0}.mass", f"{P0}.friction", "options.max_ticks"}


async def test_a_hostile_request_gets_a_bounded_error(stub: ThrottlingServiceStub) -> None:
    request = valid_request()
    bad = game_state_pb2.Unit(coordinate=game_state_pb2.Coordinate(x=math.nan), mass=-1, friction=5, speed=-1)
    request.game_state.ClearField("player_units")
    request.game_state.player_units.extend([bad] * 900)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreatePlan(request)
    assert len(field_violations(raised.value)) == 50


@pytest.mark.parametrize("interval", [-1, 10_001])
async def test_stream_tick_interval_is_bounded(stub: ThrottlingServiceStub, interval: int) -> None:
    request = pb.StreamThrottleStepsRequest(game_state=game_state_pb(), tick_interval_ms=interval)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for _ in stub.StreamThrottleSteps(request):
            pass
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tick_interval_ms" in field_violations(raised.value)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListPlansRequest(page_size=101), "page_size"),
        (pb.ListPlansRequest(page_size=-1), "page_size"),
        (pb.ListPlansRequest(page_token="not-a-token"), "page_token"),
    ],
    ids=["page size too large", "negative page size", "forged page token"],
)
async def test_listing_arguments_are_checked(
    stub: ThrottlingServiceStub, request_: pb.ListPlansRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ListPlans(request_)
    assert field in field_violations(raised.value)


async def test_a_malformed_plan_id_is_invalid(stub: ThrottlingServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetPlan(pb.GetPlanRequest(plan_id="../etc/passwd"))
    assert "plan_id" in field_violations(raised.value)
