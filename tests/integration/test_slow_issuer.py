"""A slow or failing token issuer stalls nobody whose key is already known.

The issuer here blocks its discovery and JWKS answers on an event the test holds, and counts the
requests it gets; the tests assert on those counts and on which calls complete while the issuer
is still blocked, never on durations. (Call timeouts only keep a regression from hanging the
suite.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import grpc
import pytest

from tests.conftest import make_settings
from tests.issuer import DISCOVERY, JWKS, Issuer, bearer
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.app import Application

#: A safety net so that a regression fails instead of hanging; no assertion depends on it.
CALL_TIMEOUT = 30.0
BURST = 8

Call = Callable[[str], Awaitable[grpc.StatusCode]]


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    running = Issuer()
    running.add_key("k1")
    running.add_key("k2", publish=False)
    yield running.serve()
    running.stop()


@asynccontextmanager
async def server(issuer: Issuer, **settings: object) -> AsyncIterator[Call]:
    """A server requiring the issuer's tokens; yields `call(token) -> status of one ListPlans`."""
    # A held request ends only when the test releases it, never by timing out.
    app = Application(make_settings(auth_issuer=issuer.url, auth_jwks_timeout_seconds=600.0, **settings))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = ThrottlingServiceStub(channel)

            async def call(token: str) -> grpc.StatusCode:
                try:
                    await stub.ListPlans(pb.ListPlansRequest(), metadata=bearer(token), timeout=CALL_TIMEOUT)
                except grpc.aio.AioRpcError as error:
                    return error.code()
                return grpc.StatusCode.OK

            yield call
    finally:
        issuer.release()
        await app.stop()


async def burst(call: Call, tokens: list[str]) -> list[grpc.StatusCode]:
    return list(await asyncio.gather(*(call(token) for token in tokens)))


async def seen(issuer: Issuer, path: str, count: int) -> None:
    await asyncio.to_thread(issuer.wait_seen, path, count)


async def test_known_keys_keep_working_while_a_fetch_for_a_new_key_hangs(issuer: Issuer) -> None:
    async with server(issuer, auth_refresh_cooldown_seconds=0.0) as call:
        assert await call(issuer.token()) == grpc.StatusCode.OK
        issuer.hold()
        issuer.published.append("k2")  # the issuer rotates; the first k2 token makes us refetch
        rotated = asyncio.ensure_future(call(issuer.token(kid="k2")))
        await seen(issuer, JWKS, 2)

        statuses = await burst(call, [issuer.token(sub=f"player-{i}") for i in range(BURST)])

        assert statuses == [grpc.StatusCode.OK] * BURST
        assert not rotated.done(), (
            "the burst finished only after the k2 fetch ended: it waited for the issuer"
        )
        assert issuer.seen[JWKS] == 2
        issuer.release()
        assert await rotated == grpc.StatusCode.OK


async def test_concurrent_first_calls_share_one_fetch(issuer: Issuer) -> None:
    async with server(issuer) as call:
        issuer.hold()
        calls = asyncio.ensure_future(burst(call, [issuer.token(sub=f"player-{i}") for i in range(BURST)]))
        await seen(issuer, DISCOVERY, 1)
        issuer.release()
        assert await calls == [grpc.StatusCode.OK] * BURST
    assert (issuer.seen[DISCOVERY], issuer.seen[JWKS]) == (1, 1)


async def test_a_failed_fetch_is_remembered_so_a_burst_asks_the_issuer_once(issuer: Issuer) -> None:
    issuer.failing = True
    async with server(issuer, auth_jwks_failure_cache_seconds=3600.0) as call:
        assert await call(issuer.token()) == grpc.StatusCode.UNAUTHENTICATED
        statuses = await burst(call, [issuer.token(sub=f"player-{i}") for i in range(BURST)])
    assert statuses == [grpc.StatusCode.UNAUTHENTICATED] * BURST
    assert issuer.seen[DISCOVERY] == 1


async def test_an_expired_key_set_is_refreshed_in_the_background(issuer: Issuer) -> None:
    # Lifespan 0: every call finds the keys expired and wants a refresh.
    async with server(issuer, auth_jwks_lifespan_seconds=0.0) as call:
        assert await call(issuer.token()) == grpc.StatusCode.OK
        issuer.hold()
        assert await call(issuer.token()) == grpc.StatusCode.OK  # starts the refresh, does not wait
        await seen(issuer, JWKS, 2)

        statuses = await burst(call, [issuer.token(sub=f"player-{i}") for i in range(BURST)])

        assert statuses == [grpc.StatusCode.OK] * BURST
        assert issuer.seen[JWKS] == 2, "one refresh at a time"


async def test_a_failing_refresh_keeps_the_last_good_keys(issuer: Issuer) -> None:
    async with server(issuer, auth_jwks_lifespan_seconds=0.0, auth_jwks_failure_cache_seconds=3600.0) as call:
        assert await call(issuer.token()) == grpc.StatusCode.OK
        issuer.failing = True
        assert await call(issuer.token()) == grpc.StatusCode.OK  # starts a refresh that fails
        await seen(issuer, JWKS, 2)

        statuses = await burst(call, [issuer.token(sub=f"player-{i}") for i in range(BURST)])
        unknown = await call(issuer.token(kid="k2"))

    assert statuses == [grpc.StatusCode.OK] * BURST
    assert unknown == grpc.StatusCode.UNAUTHENTICATED
    # The refresh either is still failing (in flight) or has failed (remembered): no new fetch.
    assert issuer.seen[JWKS] == 2
