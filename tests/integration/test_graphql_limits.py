"""The GraphQL sidecar's limits, through the real sidecar process, the real server and Envoy:
subscription caps and upstream lanes, body and message size, `_entities`, document cost and
fragment expansion.

The server here allows 4 concurrent streams per connection; the sidecar gets one query channel,
one subscription channel and subscription caps of 2 per connection, 3 per client and 4 in all,
so the subscription lane is full at exactly 4 open subscriptions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import EnvoyProcess, envoy_process, make_settings, sidecar_process
from tests.integration.test_graphql import GAME_STATE
from tests.support import HANG_GUARD_SECONDS, wait_for
from throttling_sequencer.app import Application

PER_CONNECTION = 2
PER_CLIENT = 3
IN_ALL = 4
SIDECAR_ENV = {
    "THROTTLING_GRAPHQL_QUERY_CHANNELS": "1",
    "THROTTLING_GRAPHQL_SUBSCRIPTION_CHANNELS": "1",
    "THROTTLING_GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION": str(PER_CONNECTION),
    "THROTTLING_GRAPHQL_MAX_SUBSCRIPTIONS_PER_CLIENT": str(PER_CLIENT),
    "THROTTLING_GRAPHQL_MAX_SUBSCRIPTIONS": str(IN_ALL),
}
#: The server's streams per connection: one subscription channel is full with IN_ALL streams.
SERVER_STREAMS = IN_ALL
#: A subscription that stays open: the first tick comes at once, the next after 10 s each.
SLOW = f"subscription {{ generateSteps(tickIntervalMs: 10000, gameStateInput: {GAME_STATE}) {{ throttle }} }}"


@dataclass
class Guarded:
    app: Application
    sidecar: str
    envoy: EnvoyProcess

    @property
    def sidecar_ws(self) -> str:
        return self.sidecar.replace("http://", "ws://") + "/graphql"

    @property
    def envoy_ws(self) -> str:
        return self.envoy.url.replace("http://", "ws://") + "/graphql"


@pytest.fixture(scope="module")
async def guarded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Guarded]:
    app = Application(make_settings(max_concurrent_streams=SERVER_STREAMS))
    await app.start()
    assert app.port is not None
    try:
        async with AsyncExitStack() as stack:
            with pytest.MonkeyPatch.context() as env:  # the sidecar process inherits these
                for name, value in SIDECAR_ENV.items():
                    env.setenv(name, value)
                url = await stack.enter_async_context(
                    sidecar_process(app.port, tmp_path_factory.mktemp("guarded-graphql"))
                )
            proxy = await stack.enter_async_context(
                envoy_process(app.port, url, tmp_path_factory.mktemp("guarded-envoy"))
            )
            yield Guarded(app, url, proxy)
    finally:
        await app.stop()


@pytest.fixture(autouse=True)
async def no_subscription_left_open(guarded: Guarded) -> AsyncIterator[None]:
    """Each test starts once the sidecar has released the previous test's subscriptions."""
    yield
    async with httpx.AsyncClient(base_url=guarded.sidecar) as client:

        async def released() -> bool:
            return bool((await client.get("/healthz")).json().get("subscriptions", 0) == 0)

        await wait_for(released, "the sidecar to release the subscriptions of closed connections")


async def receive(ws: ClientConnection, op_id: str) -> dict[str, Any]:
    """The next message for operation `op_id` (ticks of other subscriptions are skipped)."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), HANG_GUARD_SECONDS))
        if message.get("id") == op_id:
            return message


@asynccontextmanager
async def subscriber(url: str, source: str = "127.0.0.1", **headers: str) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws connection from the loopback address `source`."""
    async with connect(
        url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers=headers,
        local_addr=(source, 0),
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), HANG_GUARD_SECONDS))["type"] == "connection_ack"
        yield ws


async def subscribe(ws: ClientConnection, op_id: str, query: str = SLOW) -> dict[str, Any]:
    """Starts a subscription; its first message (a `next` once the upstream stream runs)."""
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": query}}))
    return await receive(ws, op_id)


def errors_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    assert message["type"] in ("error", "next"), message
    errors: list[dict[str, Any]] = (
        message["payload"] if message["type"] == "error" else message["payload"].get("errors", [])
    )
    assert errors, f"expected a refusal, got {message}"
    return errors


def assert_refused(message: dict[str, Any], scope: str, limit: int) -> None:
    extensions = errors_of(message)[0]["extensions"]
    assert extensions["code"] == "SUBSCRIPTION_LIMIT_REACHED", message
    assert (extensions["scope"], extensions["limit"]) == (scope, limit), message


async def test_a_connection_holds_a_bounded_number_of_subscriptions(guarded: Guarded) -> None:
    async with subscriber(guarded.sidecar_ws) as ws:
        for n in range(PER_CONNECTION):
            assert (await subscribe(ws, f"s{n}"))["type"] == "next"
        assert_refused(await subscribe(ws, "over"), "connection", PER_CONNECTION)
        # Closing one frees its place on the connection.
        await ws.send(json.dumps({"id": "s0", "type": "complete"}))
        assert (await subscribe(ws, "again"))["type"] == "next"


async def test_a_client_holds_a_bounded_number_of_subscriptions_whatever_it_claims(guarded: Guarded) -> None:
    # Envoy names the caller in X-Forwarded-For, replacing whatever the caller sent.
    spoofed = {"x-forwarded-for": "203.0.113.9"}
    async with (
        subscriber(guarded.envoy_ws, "127.0.0.2") as first,
        subscriber(guarded.envoy_ws, "127.0.0.2", **spoofed) as second,
    ):
        assert [(await subscribe(first, f"a{n}"))["type"] for n in range(2)] == ["next", "next"]
        assert (await subscribe(second, "a2"))["type"] == "next"
        assert_refused(await subscribe(second, "a3"), "client", PER_CLIENT)
        async with subscriber(guarded.envoy_ws, "127.0.0.3") as other:
            assert (await subscribe(other, "b0"))["type"] == "next"
    # Straight to the sidecar, an untrusted peer's X-Forwarded-For is ignored too.
    async with (
        subscriber(guarded.sidecar_ws, "127.0.0.4", **spoofed) as first,
        subscriber(guarded.sidecar_ws, "127.0.0.4", **{"x-forwarded-for": "203.0.113.10"}) as second,
    ):
        assert [(await subscribe(first, f"c{n}"))["type"] for n in range(2)] == ["next", "next"]
        assert (await subscribe(second, "c2"))["type"] == "next"
        assert_refused(await subscribe(second, "c3"), "client", PER_CLIENT)


async def test_queries_answer_while_slow_subscriptions_fill_the_upstream(guarded: Guarded) -> None:
    async with (
        subscriber(guarded.envoy_ws, "127.0.0.2") as first,
        subscriber(guarded.envoy_ws, "127.0.0.3") as second,
    ):
        for ws, prefix in ((first, "a"), (second, "b")):
            for n in range(2):
                assert (await subscribe(ws, f"{prefix}{n}"))["type"] == "next"
        # SERVER_STREAMS subscriptions are open upstream: as many as one connection may carry.
        async with httpx.AsyncClient(base_url=guarded.envoy.url, timeout=HANG_GUARD_SECONDS) as client:
            response = await client.post("/graphql", json={"query": "{ plans(first: 1) { nextCursor } }"})
        assert response.status_code == 200 and "errors" not in response.json(), response.text
        # And a further subscription is refused at once rather than left waiting for a stream.
        async with subscriber(guarded.envoy_ws, "127.0.0.4") as third:
            assert_refused(await subscribe(third, "c0"), "server", IN_ALL)


def body_chunks(total: int) -> AsyncIterator[bytes]:
    """A GraphQL body of `total` bytes, sent chunked (no Content-Length)."""

    async def chunks() -> AsyncIterator[bytes]:
        head, tail = b'{"query": "{ __typename }', b'"}'
        yield head
        left = total - len(head) - len(tail)
        while left > 0:
            size = min(left, 64 * 1024)
            yield b" " * size
            left -= size
        yield tail

    return chunks()


async def test_a_body_over_the_limit_is_refused_whether_or_not_its_length_is_declared(
    guarded: Guarded,
) -> None:
    declared = b'{"query": "{ __typename }' + b" " * 300_000 + b'"}'
    for base in (guarded.sidecar, guarded.envoy.url):
        async with httpx.AsyncClient(base_url=base, timeout=HANG_GUARD_SECONDS) as client:
            headers = {"content-type": "application/json"}
            small = await client.post("/graphql", content=body_chunks(1_000), headers=headers)
            assert small.status_code == 200 and small.json() == {"data": {"__typename": "Query"}}
            for body in (body_chunks(4 * 1024 * 1024), declared):
                response = await client.post("/graphql", content=body, headers=headers)
                assert response.status_code == 413, (base, response.status_code, response.text[:200])
                error = response.json()["errors"][0]
                assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_websocket_message_over_the_limit_closes_the_connection(guarded: Guarded) -> None:
    async with subscriber(guarded.sidecar_ws) as ws:
        query = "subscription { __typename }" + " " * 1_000_000
        await ws.send(json.dumps({"id": "big", "type": "subscribe", "payload": {"query": query}}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), HANG_GUARD_SECONDS)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big


def upstream_calls(records: list[Any], method: str) -> int:
    return sum(1 for r in records if r["message"] == "rpc" and r["extra"]["method"].endswith(method))


ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on PlanType { id } } }"


async def test_too_many_entity_representations_are_refused_before_any_upstream_call(
    guarded: Guarded, log_records: list[Any]
) -> None:
    async with httpx.AsyncClient(base_url=guarded.envoy.url, timeout=HANG_GUARD_SECONDS) as client:

        async def entities(count: int) -> dict[str, Any]:
            representations = [{"__typename": "PlanType", "id": str(n)} for n in range(count)]
            payload = {"query": ENTITIES, "variables": {"r": representations}}
            response = await client.post("/graphql", json=payload)
            assert response.status_code == 200, response.text[:300]
            body: dict[str, Any] = response.json()
            return body

        answered = await entities(3)  # each representation is one upstream lookup
        assert len(answered["errors"]) == 3 and upstream_calls(log_records, "GetPlan") == 3
        refused = await entities(5_000)
    error = refused["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "at most 100 representations" in error["message"]
    assert refused.get("data") is None and len(refused["errors"]) == 1
    assert upstream_calls(log_records, "GetPlan") == 3


async def test_each_aliased_plan_counts_towards_the_document_cost(
    guarded: Guarded, log_records: list[Any]
) -> None:
    one = f"plan(gameStateInput: {GAME_STATE}, options: {{maxTicks: 20, timeBudgetMs: 60000}}) {{ id }}"
    async with httpx.AsyncClient(base_url=guarded.envoy.url, timeout=HANG_GUARD_SECONDS) as client:
        single = (await client.post("/graphql", json={"query": f"mutation {{ {one} }}"})).json()
        assert single["data"]["plan"]["id"], single
        aliased = " ".join(f"p{n}: {one}" for n in range(30))
        body = (await client.post("/graphql", json={"query": f"mutation {{ {aliased} }}"})).json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE", error
    assert (error["extensions"]["cost"], error["extensions"]["maxCost"]) == (30 * 70, 100)
    assert body.get("data") is None
    assert upstream_calls(log_records, "CreatePlan") == 1


async def test_documents_whose_fragments_blow_up_are_refused_before_validation(guarded: Guarded) -> None:
    # 24 fragments each spreading the next twice: a few hundred tokens, 2^24 fields expanded.
    doubling = " ".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(24))
    doubling = f"query {{ ...F0 }} {doubling} fragment F24 on Query {{ plans {{ nextCursor }} }}"
    # 300 fragments in a chain: deeper than a recursive validator can follow.
    chain = " ".join(f"fragment C{n} on Query {{ ...C{n + 1} }}" for n in range(300))
    chain = f"query {{ ...C0 }} {chain} fragment C300 on Query {{ __typename }}"
    async with httpx.AsyncClient(base_url=guarded.envoy.url, timeout=HANG_GUARD_SECONDS) as client:
        for document, limit in ((doubling, "maxFields"), (chain, "maxNesting")):
            body = (await client.post("/graphql", json={"query": document})).json()
            error = body["errors"][0]
            assert error["extensions"]["code"] == "DOCUMENT_TOO_COMPLEX" and limit in error["extensions"], (
                body
            )
        fine = " ".join(f"fragment S{n} on Query {{ ...S{n + 1} }}" for n in range(5))
        fine = f"query {{ ...S0 }} {fine} fragment S5 on Query {{ __typename }}"
        assert (await client.post("/graphql", json={"query": fine})).json() == {
            "data": {"__typename": "Query"}
        }
