"""GraphQL through Envoy's front door: real sidecar process, real gRPC server, real websocket client."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import EnvoyProcess
from tests.guided import SimulatedUnit, guide, start
from tests.support import HANG_GUARD_SECONDS, game_state_pb, rpc_logged, wait_until, within
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub

GAME_STATE = """{
  playerUnits: [{coordinate: {x: 0, y: 0}, speed: 0, mass: 10, friction: 0.01}]
  enemyUnits: [{coordinate: {x: 800, y: 0}, speed: 0, mass: 50, friction: 0.5}]
}"""
# The earlier service's documents, unchanged.
SEED_QUERY = f"""query {{
  calculateThrottleSteps(gameStateInput: {GAME_STATE}) {{ coordinate {{ x y }} throttle }}
}}"""
SEED_SUBSCRIPTION = f"""subscription {{
  generateSteps(gameStateInput: {GAME_STATE}) {{ coordinate {{ x y }} throttle }}
}}"""


@pytest.fixture
def ws_url(envoy: EnvoyProcess) -> str:
    return f"ws://127.0.0.1:{envoy.settings.envoy.port}/graphql"


async def post(rest: httpx.AsyncClient, query: str, **headers: str) -> dict[str, Any]:
    response = await rest.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_earlier_query_works_unchanged(rest: httpx.AsyncClient) -> None:
    body = await post(rest, SEED_QUERY)
    goals = body["data"]["calculateThrottleSteps"]
    assert goals and all(
        g["coordinate"] == {"x": 800.0, "y": 0.0} and 0 <= g["throttle"] <= 300 for g in goals
    )


async def test_plan_mutation_then_history_and_lookup(rest: httpx.AsyncClient) -> None:
    created = await post(
        rest,
        f"""mutation {{ plan(gameStateInput: {GAME_STATE}, options: {{maxTicks: 40}}) {{
              id strategy arrival lowerBound optimalityGap requestId
              score {{ total ticks }} goals {{ throttle }}
            }} }}""",
        **{"x-request-id": "graphql-req-7"},
    )
    plan = created["data"]["plan"]
    assert plan["strategy"] == "EXACT" and plan["requestId"] == "graphql-req-7"
    assert plan["lowerBound"] <= plan["score"]["total"] and plan["score"]["ticks"] == len(plan["goals"]) <= 40
    listed = await post(rest, "{ plans(first: 1) { plans { id } nextCursor } }")
    assert listed["data"]["plans"]["plans"][0]["id"] == plan["id"]
    fetched = await post(rest, f'{{ plan(id: "{plan["id"]}") {{ id score {{ total }} }} }}')
    assert fetched["data"]["plan"]["score"] == {"total": plan["score"]["total"]}


async def test_a_guided_plan_shows_its_session_summary_and_others_none(
    rest: httpx.AsyncClient, stub: ThrottlingServiceStub
) -> None:
    game = game_state_pb(distance=900.0)
    answers = await guide(stub, start(game), SimulatedUnit(game, friction=0.012))
    fields = "guidance { ticks replans finalMiss finalSpeed estimatedFriction completed }"
    guided = await post(rest, f'{{ plan(id: "{answers[0].plan_id}") {{ {fields} }} }}')
    summary = guided["data"]["plan"]["guidance"]
    assert summary["ticks"] == len(answers) and summary["completed"] is True
    assert summary["replans"] == sum(a.replanned for a in answers)
    created = await post(rest, f"mutation {{ plan(gameStateInput: {GAME_STATE}) {{ {fields} }} }}")
    assert created["data"]["plan"]["guidance"] is None


async def test_invalid_input_is_bad_user_input_naming_the_argument_path(rest: httpx.AsyncClient) -> None:
    query = SEED_QUERY.replace("mass: 10", "mass: -1")
    body = await post(rest, query)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["fieldViolations"][0]["field"] == "gameStateInput.playerUnits[0].mass"
    assert body["data"] is None


async def test_a_missing_plan_is_not_found(rest: httpx.AsyncClient) -> None:
    body = await post(rest, '{ plan(id: "00000000-0000-4000-8000-000000000000") { id } }')
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_graphiql_is_served_to_browsers(rest: httpx.AsyncClient) -> None:
    response = await rest.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200 and "graphiql" in response.text.lower()


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(
        await within(ws.recv(), "a GraphQL WebSocket message", HANG_GUARD_SECONDS)
    )
    return message


@asynccontextmanager
async def transport_ws(url: str, **params: str) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws connection, initialised with `params` as connection params."""
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": params}))
        assert (await receive(ws))["type"] == "connection_ack"
        yield ws


async def test_seed_subscription_over_graphql_transport_ws(ws_url: str) -> None:
    async with transport_ws(ws_url) as ws:
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SEED_SUBSCRIPTION}}))
        events = []
        while (message := await receive(ws))["type"] == "next":
            events.append(message["payload"]["data"]["generateSteps"])
        assert message == {"id": "1", "type": "complete"}
        assert events and all(e["coordinate"] == {"x": 800.0, "y": 0.0} for e in events)


async def test_seed_subscription_over_legacy_graphql_ws(ws_url: str) -> None:
    async with connect(ws_url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert (await receive(ws))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "start", "payload": {"query": SEED_SUBSCRIPTION}}))
        events = []
        while (message := await receive(ws))["type"] in ("data", "ka"):
            if message["type"] == "data":
                events.append(message["payload"]["data"]["generateSteps"])
        assert message["type"] == "complete" and events


async def test_plan_progress_subscription_ends_with_the_stored_plan(ws_url: str) -> None:
    query = f"""subscription {{ planProgress(gameStateInput: {GAME_STATE}) {{
        iteration score {{ total }} lowerBound plan {{ id requestId score {{ total }} }} }} }}"""
    async with transport_ws(ws_url, **{"x-request-id": "ws-req-9"}) as ws:
        await ws.send(json.dumps({"id": "p", "type": "subscribe", "payload": {"query": query}}))
        events = []
        while (message := await receive(ws))["type"] == "next":
            events.append(message["payload"]["data"]["planProgress"])
        assert message["type"] == "complete"
        assert all(e["lowerBound"] <= e["score"]["total"] for e in events)
        *improvements, last = events
        assert improvements, "the exact planner reports its improvements before the stored plan"
        assert all(e["plan"] is None and e["iteration"] >= 0 for e in improvements)
        # The stored plan ends the stream: no iteration (no -1 sentinel), its score repeated.
        assert last["iteration"] is None and last["score"] == last["plan"]["score"]
        assert last["plan"]["requestId"] == "ws-req-9", "connection params reach the server as metadata"


async def test_closing_a_subscription_cancels_the_upstream_stream(
    ws_url: str, log_records: list[Any]
) -> None:
    slow = SEED_SUBSCRIPTION.replace(
        "generateSteps(gameStateInput:", "generateSteps(tickIntervalMs: 5000, gameStateInput:"
    )
    async with transport_ws(ws_url) as ws:
        await ws.send(json.dumps({"id": "s", "type": "subscribe", "payload": {"query": slow}}))
        assert (await receive(ws))["type"] == "next"
        await ws.send(json.dumps({"id": "s", "type": "complete"}))

        await asyncio.to_thread(wait_until, rpc_logged(log_records, "StreamThrottleSteps", "CANCELLED"), 10.0)


async def test_validation_errors_reach_subscribers_with_their_code(ws_url: str) -> None:
    bad = SEED_SUBSCRIPTION.replace("friction: 0.01", "friction: 1.5")
    async with transport_ws(ws_url) as ws:
        await ws.send(json.dumps({"id": "b", "type": "subscribe", "payload": {"query": bad}}))
        message = await receive(ws)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_sdl_composes_as_a_federation_subgraph(
    rest: httpx.AsyncClient, repo_root: Path, tmp_path: Path
) -> None:
    sdl = (await post(rest, "{ _service { sdl } }"))["data"]["_service"]["sdl"]
    assert '@key(fields: "id")' in sdl
    node = shutil.which("node")
    composer = repo_root / "tools" / "compose_supergraph.mjs"
    if node is None or not (repo_root / "node_modules" / "@apollo" / "composition").exists():
        pytest.fail("node and @apollo/composition are needed: `make install` installs them")
    (tmp_path / "throttling.graphql").write_text(sdl)
    result = await asyncio.to_thread(
        subprocess.run,
        [node, str(composer), str(tmp_path / "throttling.graphql")],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PlanType" in result.stdout


async def test_an_option_outside_the_wire_type_is_bad_user_input(rest: httpx.AsyncClient) -> None:
    """GraphQL's Int is signed, the seed is not: a negative seed was a protobuf ValueError, a
    GraphQL error with no code (and a traceback in the sidecar's log)."""
    query = f"mutation {{ plan(gameStateInput: {GAME_STATE}, options: {{seed: -1}}) {{ id }} }}"
    [error] = (await post(rest, query))["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["fieldViolations"][0]["field"] == "options.seed"


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_subscription_over_plain_http_is_refused_with_a_code(
    rest: httpx.AsyncClient, method: str
) -> None:
    """Subscriptions run over WebSocket; over HTTP the answer was "Cannot return null for
    non-nullable field Subscription.generateSteps." (a TypeError, no code)."""
    if method == "POST":
        response = await rest.post("/graphql", json={"query": SEED_SUBSCRIPTION})
    else:
        response = await rest.get("/graphql", params={"query": SEED_SUBSCRIPTION})
    body = response.json()
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST", error
    assert "WebSocket" in error["message"]


ENTITIES = "query ($r: [_Any!]!) { _entities(representations: $r) { ... on PlanType { id } } }"
MALFORMED_REPRESENTATIONS = {
    "unknown type": {"__typename": "Nope", "id": "1"},
    "no type": {"id": "00000000-0000-4000-8000-000000000000"},
    "not an object": 1,
    "no id": {"__typename": "PlanType"},
    "an object for id": {"__typename": "PlanType", "id": {"a": 1}},
}


@pytest.mark.parametrize("representation", MALFORMED_REPRESENTATIONS.values(), ids=MALFORMED_REPRESENTATIONS)
async def test_a_malformed_entity_representation_is_bad_user_input(
    rest: httpx.AsyncClient, representation: Any
) -> None:
    """These answered Python's own words ("'Nope'", "'int' object has no attribute 'pop'",
    "resolve_reference() missing 1 required positional argument") with no code."""
    payload = {"query": ENTITIES, "variables": {"r": [representation]}}
    body = (await rest.post("/graphql", json=payload)).json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "representations[0]" in error["message"] and "PlanType" in error["message"], error


PAGE_OF_N = "query ($n: Int!) { plans(first: $n) { nextCursor } }"
UNRUNNABLE = {
    "syntax": ({"query": "{ plans { "}, "GRAPHQL_PARSE_FAILED"),
    "unknown field": ({"query": "{ nope }"}, "GRAPHQL_VALIDATION_FAILED"),
    "wrong argument type": ({"query": '{ plans(first: "x") { nextCursor } }'}, "GRAPHQL_VALIDATION_FAILED"),
    "bad variable": ({"query": PAGE_OF_N, "variables": {"n": "x"}}, "BAD_USER_INPUT"),
    "missing variable": ({"query": PAGE_OF_N}, "BAD_USER_INPUT"),
}


@pytest.mark.parametrize(("payload", "code"), UNRUNNABLE.values(), ids=UNRUNNABLE)
async def test_a_document_that_cannot_run_is_refused_with_a_code(
    rest: httpx.AsyncClient, payload: dict[str, Any], code: str
) -> None:
    """Parse, validation and variable errors came with a message only."""
    response = await rest.post("/graphql", json=payload)
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == code, error
