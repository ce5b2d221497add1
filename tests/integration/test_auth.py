"""Bearer-token authentication on every surface: gRPC, REST through Envoy, GraphQL through Envoy.

The test serves its own OIDC issuer (discovery document and JWKS) on loopback, mints tokens,
and throws the classic attacks at a server that requires tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from logging import ERROR
from pathlib import Path
from typing import Any
from uuid import uuid4

import grpc
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from websockets.asyncio.client import connect

from tests.conftest import EnvoyProcess, envoy_process, make_settings, sidecar_process
from tests.guided import SimulatedUnit, guide, start
from tests.issuer import AUDIENCE, USER, Issuer, b64, bearer, forged
from tests.support import DEFAULT_STATE_JSON, HANG_GUARD_SECONDS, game_state_pb
from throttling.v1 import planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.app import Application
from throttling_sequencer.request_context import ANONYMOUS

ADMIN_ROLE = "throttling-admin"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    running = Issuer()
    running.add_key("k1")
    running.add_key("e1", kind="EC")
    running.add_key("stranger", publish=False)
    running.add_key("ec-stranger", publish=False, kind="EC")
    yield running.serve()
    running.stop()


@dataclass
class SecuredStack:
    app: Application
    envoy: EnvoyProcess


@pytest.fixture(scope="module")
async def secured(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecuredStack]:
    settings = make_settings(auth_issuer=issuer.url, auth_refresh_cooldown_seconds=0.0)
    app = Application(settings)
    await app.start()
    assert app.port is not None
    try:
        async with (
            sidecar_process(app.port, tmp_path_factory.mktemp("secured-graphql")) as graphql,
            envoy_process(app.port, graphql, tmp_path_factory.mktemp("secured-envoy")) as proxy,
        ):
            yield SecuredStack(app, proxy)
    finally:
        await app.stop()


def hs256_with_public_key(issuer: Issuer) -> str:
    """The key-confusion attack: HMAC-sign with the RSA public key as the shared secret."""
    public = (
        issuer.keys["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    payload = b64(json.dumps({"iss": issuer.url, "aud": AUDIENCE, "sub": "admin", "exp": now + 300}).encode())
    signature = hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def unsigned(issuer: Issuer) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "k1"}).encode())
    payload = b64(json.dumps({"iss": issuer.url, "aud": AUDIENCE, "sub": "admin", "exp": 2**31}).encode())
    return f"{header}.{payload}."


def tampered(issuer: Issuer) -> str:
    header, payload, signature = issuer.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return f"{header}.{b64(json.dumps(claims | {'sub': 'admin'}).encode())}.{signature}"


ATTACKS: dict[str, Any] = {
    "missing token": lambda issuer: None,
    "not a bearer token": lambda issuer: "Basic dXNlcjpwYXNz",
    "alg none": unsigned,
    "HS256 signed with the public key": hs256_with_public_key,
    "expired": lambda issuer: issuer.token(exp=int(time.time()) - 3600),
    "not yet valid": lambda issuer: issuer.token(nbf=int(time.time()) + 3600),
    "wrong issuer": lambda issuer: issuer.token(iss="https://evil.example"),
    "wrong audience": lambda issuer: issuer.token(aud="someone-else"),
    "tampered payload": tampered,
    "unknown kid": lambda issuer: issuer.token(kid="stranger"),
    # The header picks the algorithm, the kid picks a key of another type.
    "ES256 header naming an RSA key": lambda issuer: forged(
        issuer, "ec-stranger", {"alg": "ES256", "kid": "k1"}
    ),
    "RS256 header naming an EC key": lambda issuer: forged(issuer, "stranger", {"alg": "RS256", "kid": "e1"}),
    "header nested too deeply": lambda issuer: forged(
        issuer, "k1", '{"alg": "RS256", "kid": "k1", "x": ' + "[" * 2000 + "]" * 2000 + "}"
    ),
    "kid not a string": lambda issuer: forged(issuer, "k1", {"alg": "RS256", "kid": ["k1"]}),
    "token too long": lambda issuer: issuer.token(padding="p" * 7_000),
    # Longer than the plans' user_id column (256): refused at the edge, never stored.
    "subject too long": lambda issuer: issuer.token(sub="u" * 257),
    "subject with a NUL": lambda issuer: issuer.token(sub="player\u0000-1"),
}


def authorization(token: str | None) -> dict[str, str]:
    if token is None:
        return {}
    return {"authorization": token if " " in token else f"Bearer {token}"}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
async def test_grpc_rejects(secured: SecuredStack, issuer: Issuer, attack: Any) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secured.app.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await ThrottlingServiceStub(channel).CreatePlan(
                pb.CreatePlanRequest(game_state=game_state_pb()),
                metadata=tuple(authorization(attack(issuer)).items()),
            )
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED, raised.value.details()
    assert "internal" not in (raised.value.details() or "").lower()


@pytest.mark.parametrize(
    ("header", "signer", "message"),
    [
        ({"alg": "ES256", "kid": "k1"}, "ec-stranger", "its header says ES256 but key 'k1' is for RS256"),
        ({"alg": "RS256", "kid": "e1"}, "stranger", "its header says RS256 but key 'e1' is for ES256"),
    ],
    ids=["ES256 header, RSA key", "RS256 header, EC key"],
)
async def test_a_header_algorithm_that_is_not_its_keys_is_refused_clearly_without_a_traceback(
    secured: SecuredStack,
    issuer: Issuer,
    log_records: list[Any],
    header: dict[str, str],
    signer: str,
    message: str,
) -> None:
    """Once a TypeError inside the JWT library: INTERNAL, and a traceback in the log."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secured.app.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await ThrottlingServiceStub(channel).ListPlans(
                pb.ListPlansRequest(page_size=1), metadata=bearer(forged(issuer, signer, header))
            )
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert raised.value.details() == f"invalid token: {message}"
    assert [r["message"] for r in log_records if r["exception"] or r["level"].no >= ERROR] == []
    assert any(r["message"] == "rpc" and r["extra"]["status"] == "UNAUTHENTICATED" for r in log_records)


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
async def test_rest_rejects_with_401(secured: SecuredStack, issuer: Issuer, attack: Any) -> None:
    async with httpx.AsyncClient(base_url=secured.envoy.url) as client:
        response = await client.post(
            "/api/v1/throttle/calculate_throttle_steps",
            json=DEFAULT_STATE_JSON,
            headers=authorization(attack(issuer)),
        )
    assert response.status_code == 401
    assert response.json()["code"] == 16


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
async def test_graphql_rejects_with_unauthenticated(
    secured: SecuredStack, issuer: Issuer, attack: Any
) -> None:
    async with httpx.AsyncClient(base_url=secured.envoy.url) as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ plans(first: 1) { plans { id } } }"},
            headers=authorization(attack(issuer)),
        )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_valid_token_works_everywhere_and_names_the_user(
    secured: SecuredStack, issuer: Issuer
) -> None:
    token = issuer.token()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secured.app.port}") as channel:
        plan = (
            await ThrottlingServiceStub(channel).CreatePlan(
                pb.CreatePlanRequest(game_state=game_state_pb()), metadata=tuple(authorization(token).items())
            )
        ).plan
    assert plan.user_id == USER
    async with httpx.AsyncClient(base_url=secured.envoy.url) as client:
        rest = await client.get(f"/api/v1/plans/{plan.plan_id}", headers=authorization(token))
        assert rest.status_code == 200 and rest.json()["plan"]["userId"] == USER
        graphql = await client.post(
            "/graphql",
            json={"query": f'{{ plan(id: "{plan.plan_id}") {{ userId }} }}'},
            headers=authorization(token),
        )
        assert graphql.json()["data"]["plan"]["userId"] == USER


async def test_a_guidance_session_needs_a_token_and_acts_for_its_user(
    secured: SecuredStack, issuer: Issuer
) -> None:
    game = game_state_pb(distance=900.0)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secured.app.port}") as channel:
        stub = ThrottlingServiceStub(channel)
        refused = stub.Guide(metadata=bearer(tampered(issuer)), timeout=HANG_GUARD_SECONDS)
        await refused.write(start(game))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await refused.read()
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        token = issuer.token()
        answers = await guide(stub, start(game), SimulatedUnit(game), metadata=bearer(token))
        plan = (
            await stub.GetPlan(pb.GetPlanRequest(plan_id=answers[0].plan_id), metadata=bearer(token))
        ).plan
    assert plan.user_id == USER
    assert plan.guidance.ticks == len(answers) and plan.guidance.completed


async def test_websocket_connection_params_carry_the_token(secured: SecuredStack, issuer: Issuer) -> None:
    url = f"ws://127.0.0.1:{secured.envoy.settings.envoy.port}/graphql"
    state = (
        "{playerUnits: [{coordinate: {x: 0, y: 0}, speed: 0, mass: 10, friction: 0.1}], "
        "enemyUnits: [{coordinate: {x: 300, y: 0}, speed: 0, mass: 1, friction: 0}]}"
    )
    query = f"subscription {{ planProgress(gameStateInput: {state}) {{ plan {{ userId }} }} }}"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {issuer.token()}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        events = []
        while (message := json.loads(await ws.recv()))["type"] == "next":
            events.append(message["payload"]["data"]["planProgress"])
        assert events[-1]["plan"]["userId"] == USER


async def listed_services(channel: grpc.aio.Channel) -> set[str]:
    """What server reflection lists (how grpcurl and buf curl discover the API), asked without
    a token."""
    call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        [reflection_pb2.ServerReflectionRequest(list_services="")], timeout=HANG_GUARD_SECONDS
    )
    replies = [reply async for reply in call]
    assert [reply.WhichOneof("message_response") for reply in replies] == ["list_services_response"]
    return {service.name for service in replies[0].list_services_response.service}


async def test_health_and_reflection_stay_open(secured: SecuredStack) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secured.app.port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        services = await listed_services(channel)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert {"throttling.v1.ThrottlingService", "grpc.health.v1.Health"} <= services
    async with httpx.AsyncClient(base_url=secured.envoy.url) as client:
        assert (await client.get("/api/v1/health")).status_code == 200


async def test_development_mode_plans_without_tokens(app: Application, envoy: EnvoyProcess) -> None:
    """No issuer configured: every caller is 'anonymous' and plans work on every surface without
    a token, including reading back what was planned."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        stub = ThrottlingServiceStub(channel)
        plan = (await stub.CreatePlan(cheap_plan())).plan
        assert plan.user_id == ANONYMOUS
        assert (await stub.GetPlan(pb.GetPlanRequest(plan_id=plan.plan_id))).plan == plan
        assert plan.plan_id in {p.plan_id for p in (await stub.ListPlans(pb.ListPlansRequest())).plans}
        assert {"throttling.v1.ThrottlingService", "grpc.health.v1.Health"} <= await listed_services(channel)
    async with httpx.AsyncClient(base_url=envoy.url, timeout=HANG_GUARD_SECONDS) as client:
        created = await client.post(
            "/api/v1/plans",
            json={"game_state": DEFAULT_STATE_JSON, "options": {"strategy": "STRATEGY_RANDOM"}},
        )
        assert created.status_code == 200, created.text
        plan_id = created.json()["plan"]["planId"]
        fetched = await client.get(f"/api/v1/plans/{plan_id}")
        assert fetched.status_code == 200 and fetched.json()["plan"]["userId"] == ANONYMOUS
        document = f'{{ plan(id: "{plan_id}") {{ id userId }} }}'
        answer = (await client.post("/graphql", json={"query": document})).json()
        assert answer == {"data": {"plan": {"id": plan_id, "userId": ANONYMOUS}}}


async def test_a_rotated_key_is_fetched_when_first_seen(secured: SecuredStack, issuer: Issuer) -> None:
    issuer.add_key("k2")  # the issuer rotates; the server has only cached k1
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secured.app.port}") as channel:
        reply = await ThrottlingServiceStub(channel).ListPlans(
            pb.ListPlansRequest(page_size=1), metadata=tuple(authorization(issuer.token(kid="k2")).items())
        )
    assert reply is not None


async def test_an_ec_key_signs_es256_tokens(secured: SecuredStack, issuer: Issuer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secured.app.port}") as channel:
        reply = await ThrottlingServiceStub(channel).ListPlans(
            pb.ListPlansRequest(page_size=1), metadata=bearer(issuer.token(kid="e1"))
        )
    assert reply is not None


async def test_a_subject_is_the_user_id_up_to_the_column_length(
    secured: SecuredStack, issuer: Issuer
) -> None:
    """The plans' user_id column holds 256 characters: a longer `sub` is refused, never stored."""
    longest = "u" * 256
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secured.app.port}") as channel:
        stub = ThrottlingServiceStub(channel)
        plan = (await stub.CreatePlan(cheap_plan(), metadata=bearer(issuer.token(sub=longest)))).plan
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.CreatePlan(cheap_plan(), metadata=bearer(issuer.token(sub=longest + "u")))
    assert plan.user_id == longest
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (
        raised.value.details()
        == "invalid token: the subject (sub) is 257 characters long; at most 256 are accepted"
    )


def cheap_plan() -> pb.CreatePlanRequest:
    return pb.CreatePlanRequest(
        game_state=game_state_pb(), options=planning_pb2.PlannerOptions(strategy=planning_pb2.STRATEGY_RANDOM)
    )


def admin_token(issuer: Issuer, **claims: Any) -> str:
    """Keycloak puts realm roles in `realm_access.roles`."""
    return issuer.token(
        sub="operator", **({"realm_access": {"roles": ["offline_access", ADMIN_ROLE]}} | claims)
    )


@dataclass
class TwoUsers:
    """Two fresh users with one plan each."""

    alice: str
    bob: str
    alices_plan: str
    bobs_plan: str


@pytest.fixture
async def two_users(secured: SecuredStack, issuer: Issuer) -> TwoUsers:
    alice, bob = f"alice-{uuid4().hex[:8]}", f"bob-{uuid4().hex[:8]}"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secured.app.port}") as channel:
        stub = ThrottlingServiceStub(channel)
        alices = (await stub.CreatePlan(cheap_plan(), metadata=bearer(issuer.token(sub=alice)))).plan
        bobs = (await stub.CreatePlan(cheap_plan(), metadata=bearer(issuer.token(sub=bob)))).plan
    return TwoUsers(alice, bob, alices.plan_id, bobs.plan_id)


async def grpc_listing(stub: ThrottlingServiceStub, token: str) -> list[planning_pb2.Plan]:
    """Every plan the token's user may list, page by page."""
    plans: list[planning_pb2.Plan] = []
    page_token = ""
    while True:
        reply = await stub.ListPlans(
            pb.ListPlansRequest(page_size=100, page_token=page_token), metadata=bearer(token)
        )
        plans.extend(reply.plans)
        if not (page_token := reply.next_page_token):
            return plans


async def test_grpc_callers_see_only_their_own_plans_and_admins_see_all(
    secured: SecuredStack, issuer: Issuer, two_users: TwoUsers
) -> None:
    alice = issuer.token(sub=two_users.alice)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secured.app.port}") as channel:
        stub = ThrottlingServiceStub(channel)
        assert (
            await stub.GetPlan(pb.GetPlanRequest(plan_id=two_users.alices_plan), metadata=bearer(alice))
        ).plan
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetPlan(pb.GetPlanRequest(plan_id=two_users.bobs_plan), metadata=bearer(alice))
        # Exactly what a plan id that does not exist gets: the answer does not tell them apart.
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert raised.value.details() == f"no plan with id {two_users.bobs_plan!r}"
        assert [p.plan_id for p in await grpc_listing(stub, alice)] == [two_users.alices_plan]

        admin = admin_token(issuer)
        fetched = await stub.GetPlan(pb.GetPlanRequest(plan_id=two_users.bobs_plan), metadata=bearer(admin))
        assert fetched.plan.user_id == two_users.bob
        everyone = {p.plan_id for p in await grpc_listing(stub, admin)}
        assert {two_users.alices_plan, two_users.bobs_plan} <= everyone

        # The role must sit where the setting says (realm_access.roles), not in any claim.
        elsewhere = issuer.token(sub="operator", resource_access={"roles": [ADMIN_ROLE]}, roles=[ADMIN_ROLE])
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetPlan(pb.GetPlanRequest(plan_id=two_users.bobs_plan), metadata=bearer(elsewhere))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_rest_callers_see_only_their_own_plans_and_admins_see_all(
    secured: SecuredStack, issuer: Issuer, two_users: TwoUsers
) -> None:
    alice = authorization(issuer.token(sub=two_users.alice))
    admin = authorization(admin_token(issuer))
    async with httpx.AsyncClient(base_url=secured.envoy.url) as client:
        assert (await client.get(f"/api/v1/plans/{two_users.alices_plan}", headers=alice)).status_code == 200
        hidden = await client.get(f"/api/v1/plans/{two_users.bobs_plan}", headers=alice)
        assert hidden.status_code == 404 and hidden.json()["code"] == 5
        listed = await client.get("/api/v1/plans", params={"pageSize": 100}, headers=alice)
        assert [p["planId"] for p in listed.json()["plans"]] == [two_users.alices_plan]
        shown = await client.get(f"/api/v1/plans/{two_users.bobs_plan}", headers=admin)
        assert shown.status_code == 200 and shown.json()["plan"]["userId"] == two_users.bob


async def test_graphql_callers_see_only_their_own_plans_and_admins_see_all(
    secured: SecuredStack, issuer: Issuer, two_users: TwoUsers
) -> None:
    alice = authorization(issuer.token(sub=two_users.alice))
    admin = authorization(admin_token(issuer))
    plan = f'{{ plan(id: "{two_users.bobs_plan}") {{ userId }} }}'
    async with httpx.AsyncClient(base_url=secured.envoy.url) as client:
        hidden = (await client.post("/graphql", json={"query": plan}, headers=alice)).json()
        assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        listed = await client.post(
            "/graphql", json={"query": "{ plans(first: 100) { plans { id } } }"}, headers=alice
        )
        assert [p["id"] for p in listed.json()["data"]["plans"]["plans"]] == [two_users.alices_plan]
        shown = (await client.post("/graphql", json={"query": plan}, headers=admin)).json()
        assert shown["data"]["plan"]["userId"] == two_users.bob


def test_unsafe_algorithms_are_refused_in_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="AUTH_ALGORITHMS"):
        make_settings(auth_issuer="https://issuer.example", auth_algorithms="RS256,HS256")
