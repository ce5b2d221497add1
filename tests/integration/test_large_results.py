"""Answers that could grow past what the front doors carry: a page of plans at the input limits
(REST through Envoy, gRPC), and GraphQL documents whose answer may hold huge goal lists.

Each plan here holds 1,000 player and 1,000 enemy units (the unit limit) and 1,000 goals (the
tick limit): about 125 KB on the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest

from tests.conftest import EnvoyProcess, envoy_process, make_settings, sidecar_process
from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.app import Application

PLANS = 12


@dataclass
class Stack:
    app: Application
    envoy: EnvoyProcess
    plan_ids: set[str]


def largest_plan() -> pb.CreatePlanRequest:
    """A plan of 1,000 ticks (throttle 1 each, never reaching a far target) for 2,000 units."""
    unit = game_state_pb2.Unit(coordinate=game_state_pb2.Coordinate(x=0.5, y=0.25), mass=1.0, friction=0.01)
    target = game_state_pb2.Unit(coordinate=game_state_pb2.Coordinate(x=1e9, y=0.5), mass=1.0, friction=0.5)
    state = game_state_pb2.GameState(player_units=[unit] * 1000, enemy_units=[target] * 1000)
    options = planning_pb2.PlannerOptions(
        max_ticks=1000, min_throttle=1, max_throttle=1, length_weight=0, nonzero_weight=0
    )
    return pb.CreatePlanRequest(game_state=state, options=options)


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    app = Application(make_settings())
    await app.start()
    assert app.port is not None
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = ThrottlingServiceStub(channel)
            plans = [(await stub.CreatePlan(largest_plan(), timeout=60)).plan for _ in range(PLANS)]
        assert all(len(p.goals) == 1000 for p in plans)
        async with (
            sidecar_process(app.port, tmp_path_factory.mktemp("large-graphql")) as graphql,
            envoy_process(app.port, graphql, tmp_path_factory.mktemp("large-envoy")) as proxy,
        ):
            yield Stack(app, proxy, {p.plan_id for p in plans})
    finally:
        await app.stop()


async def test_a_page_of_the_largest_plans_is_cut_to_what_rest_and_grpc_clients_take(stack: Stack) -> None:
    """100 such plans are 12 MB: past Envoy's transcoder buffer (1 MiB, REST answered 500) and
    gRPC clients' default receive limit (4 MiB). A page stops short, with a token for the rest."""
    seen: list[str] = []
    token = ""
    async with httpx.AsyncClient(base_url=stack.envoy.url, timeout=60) as client:
        while True:
            reply = await client.get("/api/v1/plans", params={"pageSize": 100, "pageToken": token})
            assert reply.status_code == 200, reply.text[:300]
            page = reply.json()
            seen += [p["planId"] for p in page["plans"]]
            token = page.get("nextPageToken", "")
            if not token:
                break
    assert sorted(seen) == sorted(stack.plan_ids)  # every plan, once
    assert stack.app.port is not None
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.app.port}") as channel:  # default limits
        first = await ThrottlingServiceStub(channel).ListPlans(pb.ListPlansRequest(page_size=100))
    assert 1 <= len(first.plans) < PLANS and first.next_page_token


LARGE_DOCUMENTS = {
    "one page of 100 plans with goals": "{ plans(first: 100) { plans { goals { throttle } } } }",
    "two aliases of a default page": "{ a: plans { plans { goals { throttle } } } b: plans { nextCursor "
    "plans { goals { throttle } } } }",
    "fragments": (
        "fragment G on PlanPageType { plans { goals { throttle } } } "
        "{ a: plans(first: 15) { ...G } b: plans(first: 15) { ...G } }"
    ),
    "a variable": ("query ($n: Int!) { plans(first: $n) { plans { goals { throttle } } } }", {"n": 50}),
}


@pytest.mark.parametrize("document", LARGE_DOCUMENTS.values(), ids=LARGE_DOCUMENTS.keys())
async def test_a_document_whose_answer_may_hold_too_many_goals_is_refused_unrun(
    stack: Stack, document: str | tuple[str, dict[str, Any]], log_records: list[Any]
) -> None:
    """Rendering 100,000 goals took the sidecar's event loop 7 s (every other caller waited), for a
    cost of 1. Such a document is refused before any resolver runs."""
    query, variables = document if isinstance(document, tuple) else (document, {})
    async with httpx.AsyncClient(base_url=stack.envoy.url, timeout=60) as client:
        reply = await client.post("/graphql", json={"query": query, "variables": variables})
    body = reply.json()
    assert body.get("data") is None, str(body)[:300]
    [error] = body["errors"]
    assert error["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE", error
    assert error["extensions"]["goals"] > error["extensions"]["maxGoals"] == 20_000
    assert not any(r["message"] == "rpc" and r["extra"]["method"].endswith("ListPlans") for r in log_records)


async def test_a_default_page_of_plans_with_their_goals_is_answered(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.envoy.url, timeout=60) as client:
        reply = await client.post("/graphql", json={"query": "{ plans { plans { id goals { throttle } } } }"})
    body = reply.json()
    assert "errors" not in body, str(body)[:300]
    assert {p["id"] for p in body["data"]["plans"]["plans"]} <= stack.plan_ids
