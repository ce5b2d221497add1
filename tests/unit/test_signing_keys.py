"""SigningKeys with a scripted fetch and a fake clock: what is fetched when, and who waits."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from throttling_sequencer.adapters.grpc.errors import Unauthenticated
from throttling_sequencer.adapters.grpc.signing_keys import SigningKeys

KEY = jwt.PyJWK(
    json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    | {"kid": "k1"}
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedIssuer:
    """Counts fetches; fails while `failing`; blocks while `gate` is clear."""

    def __init__(self) -> None:
        self.fetches = 0
        self.failing = False
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self) -> Mapping[str, jwt.PyJWK]:
        self.fetches += 1
        self.gate.wait()
        if self.failing:
            raise OSError("connection refused")
        return {"k1": KEY}


def keys(issuer: ScriptedIssuer, clock: Clock) -> SigningKeys:
    return SigningKeys(issuer, lifespan=300.0, failure_ttl=5.0, refresh_cooldown=10.0, clock=clock)


async def test_a_failure_is_remembered_for_its_ttl_then_retried() -> None:
    issuer, clock = ScriptedIssuer(), Clock()
    issuer.failing = True
    cache = keys(issuer, clock)
    for advance in (0.0, 4.9):
        clock.now += advance
        with pytest.raises(Unauthenticated, match=r"cannot be fetched \(connection refused\)"):
            await cache.get("k1")
    assert issuer.fetches == 1
    clock.now += 0.1
    issuer.failing = False
    assert await cache.get("k1") is KEY
    assert issuer.fetches == 2


async def test_unknown_kids_refetch_at_most_once_per_cooldown() -> None:
    issuer, clock = ScriptedIssuer(), Clock()
    cache = keys(issuer, clock)
    await cache.get("k1")
    for _ in range(3):
        with pytest.raises(Unauthenticated, match="no key with id 'made-up'"):
            await cache.get("made-up")
    assert issuer.fetches == 1
    clock.now += 10.0
    with pytest.raises(Unauthenticated):
        await cache.get("made-up")
    assert issuer.fetches == 2


async def test_expired_keys_serve_while_the_refresh_runs_and_after_it_fails() -> None:
    issuer, clock = ScriptedIssuer(), Clock()
    cache = keys(issuer, clock)
    await cache.get("k1")
    clock.now += 300.0
    issuer.gate.clear()
    issuer.failing = True
    for _ in range(5):
        assert await cache.get("k1") is KEY  # the refresh hangs; nobody waits for it
    assert issuer.fetches == 2
    refresh = cache._in_flight
    assert refresh is not None
    issuer.gate.set()
    await asyncio.wrap_future(refresh)  # the refresh has failed and recorded it
    assert await cache.get("k1") is KEY  # the failure is remembered: no new fetch for 5 s
    assert issuer.fetches == 2


async def test_a_waiter_that_goes_away_does_not_cancel_the_fetch() -> None:
    issuer, clock = ScriptedIssuer(), Clock()
    cache = keys(issuer, clock)
    issuer.gate.clear()
    impatient = asyncio.ensure_future(cache.get("k1"))
    patient = asyncio.ensure_future(cache.get("k1"))
    await asyncio.sleep(0)
    impatient.cancel()
    issuer.gate.set()
    assert await patient is KEY
    assert issuer.fetches == 1
