"""REST and native gRPC through a real Envoy (gRPC-JSON transcoder) in front of a real server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from bridge.envoy import envoy_binary
from tests.conftest import EnvoyProcess, make_settings
from tests.rpc_errors import field_violations
from tests.support import DEFAULT_STATE_JSON, HANG_GUARD_SECONDS, game_state_pb, wait_for
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.app import Application

CALCULATE = "/api/v1/throttle/calculate_throttle_steps"
RANDOM = {"options.strategy": "STRATEGY_RANDOM", "options.seed": "4"}


def test_the_rendered_config_validates(envoy: EnvoyProcess) -> None:
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(envoy.config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_earlier_clients_post_a_game_state_and_read_a_bare_array(rest: httpx.AsyncClient) -> None:
    response = await rest.post(CALCULATE, json=DEFAULT_STATE_JSON, params=RANDOM)
    assert response.status_code == 200
    goals = response.json()
    assert isinstance(goals, list) and goals
    assert all(g["coordinate"] == {"x": 5000, "y": 0} and 0 <= g["throttle"] <= 300 for g in goals)
    assert response.headers["content-length"] == str(len(response.content))


async def test_camel_case_bodies_and_query_overrides(rest: httpx.AsyncClient) -> None:
    camel = {
        "playerUnits": DEFAULT_STATE_JSON["player_units"],
        "enemyUnits": DEFAULT_STATE_JSON["enemy_units"],
    }
    response = await rest.post(CALCULATE, json=camel, params={**RANDOM, "options.maxTicks": "3"})
    assert response.status_code == 200
    assert 1 <= len(response.json()) <= 3


async def test_invalid_input_is_a_400_naming_the_field(rest: httpx.AsyncClient) -> None:
    body = json.loads(json.dumps(DEFAULT_STATE_JSON))
    body["player_units"][0]["mass"] = -1
    response = await rest.post(CALCULATE, json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == 3
    violations = next(d for d in error["details"] if d["@type"].endswith("BadRequest"))["fieldViolations"]
    assert [v["field"] for v in violations] == ["game_state.player_units[0].mass"]


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"player_units": "many"}', b'{"player_units": [{"mass": "heavy"}]}', b"[1, 2]", b""],
    ids=["garbage", "wrong type", "string for number", "array", "empty"],
)
async def test_malformed_bodies_are_json_400s(rest: httpx.AsyncClient, body: bytes) -> None:
    response = await rest.post(CALCULATE, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == 3


async def test_unknown_paths_and_parameters(rest: httpx.AsyncClient) -> None:
    missing = await rest.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["code"] == 5
    unknown = await rest.get("/api/v1/plans", params={"bogus": "1"})
    assert unknown.status_code == 400 and unknown.json()["code"] == 3


async def test_plans_resource_create_get_list(rest: httpx.AsyncClient) -> None:
    created = await rest.post(
        "/api/v1/plans",
        json={"gameState": DEFAULT_STATE_JSON, "options": {"strategy": "STRATEGY_RANDOM", "maxTicks": 5}},
        headers={"x-request-id": "rest-req-1"},
    )
    assert created.status_code == 200
    plan: dict[str, Any] = created.json()["plan"]
    assert plan["requestId"] == "rest-req-1"
    assert plan["score"]["ticks"] == len(plan["goals"]) <= 5
    assert plan["strategy"] == "STRATEGY_RANDOM"
    fetched = await rest.get(f"/api/v1/plans/{plan['planId']}")
    assert fetched.json()["plan"] == plan
    listed = await rest.get("/api/v1/plans", params={"pageSize": 1})
    assert listed.json()["plans"][0]["planId"] == plan["planId"]
    assert listed.json()["nextPageToken"]
    missing = await rest.get("/api/v1/plans/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404


async def test_a_stream_is_a_json_array_ending_in_done(rest: httpx.AsyncClient) -> None:
    response = await rest.post(
        "/api/v1/throttle/stream_throttle_steps", json=DEFAULT_STATE_JSON, params=RANDOM
    )
    assert response.status_code == 200
    messages = response.json()
    assert all("tick" in m for m in messages[:-1])
    done = messages[-1]["done"]
    assert done["totalTicks"] == len(messages) - 1
    assert messages[-2]["tick"]["tick"] == done["totalTicks"]


async def test_native_grpc_passes_through_the_same_port(envoy: EnvoyProcess) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{envoy.settings.envoy.port}") as channel:
        stub = ThrottlingServiceStub(channel)
        goals = (
            await stub.CalculateThrottleSteps(
                pb.CalculateThrottleStepsRequest(game_state=game_state_pb()), timeout=HANG_GUARD_SECONDS
            )
        ).goals
        assert goals
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.CreatePlan(pb.CreatePlanRequest(game_state=game_state_pb(mass=0)))
    assert "game_state.player_units[0].mass" in field_violations(raised.value)


async def test_health_is_200_only_while_the_server_serves(tmp_path: Path) -> None:
    app = Application(make_settings())
    await app.start()
    assert app.port is not None
    proxy = EnvoyProcess(app.port, tmp_path)
    proxy.start()
    try:
        await proxy.wait_healthy()
        await app.health.enter_graceful_shutdown()
        async with httpx.AsyncClient(base_url=proxy.url) as client:
            replies: list[httpx.Response] = []

            async def unhealthy() -> bool:
                replies.append(await client.get("/api/v1/health"))
                return replies[-1].status_code == 503

            await wait_for(unhealthy, "Envoy to answer /api/v1/health with 503 once health is NOT_SERVING")
        assert replies[-1].json()["code"] == 14
    finally:
        proxy.stop()
        await app.stop()


async def test_plan_progress_over_rest_ends_with_the_plan(rest: httpx.AsyncClient) -> None:
    response = await rest.post("/api/v1/plans:stream", json={"gameState": DEFAULT_STATE_JSON})
    assert response.status_code == 200
    messages = response.json()
    assert all("progress" in m for m in messages[:-1]) and messages[:-1]
    done = messages[-1]["done"]
    assert done["strategy"] == "STRATEGY_EXACT"
    assert done["lowerBound"] <= done["score"]["total"]
