"""Bearer-token authentication on every surface: gRPC, REST through Envoy, GraphQL through Envoy.

The test serves its own OIDC issuer (discovery document and JWKS) on loopback, mints tokens,
and throws the classic attacks at a server that requires tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from websockets.asyncio.client import connect

from tests.conftest import EnvoyProcess, envoy_process, make_settings, sidecar_process
from tests.support import DEFAULT_STATE_JSON, free_port, game_state_pb
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.app import Application

AUDIENCE = "throttling-sequencer"
USER = "player-1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Issuer:
    """A minimal OIDC issuer: discovery at /.well-known/openid-configuration, keys at /jwks."""

    port: int = field(default_factory=free_port)
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_key(self, kid: str, publish: bool = True) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid in self.published:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            out.append(jwk | {"kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": out}

    def token(self, kid: str = "k1", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": AUDIENCE, "sub": USER, "iat": now, "exp": now + 300} | claims
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def serve(self) -> ThreadingHTTPServer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    body = issuer.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    running = Issuer()
    running.add_key("k1")
    running.add_key("stranger", publish=False)
    server = running.serve()
    yield running
    server.shutdown()


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
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


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


async def test_websocket_connection_params_carry_the_token(secured: SecuredStack, issuer: Issuer) -> None:
    url = f"ws://127.0.0.1:{secured.envoy.settings.listen_port}/graphql"
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


async def test_health_and_reflection_stay_open(secured: SecuredStack) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secured.app.port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    async with httpx.AsyncClient(base_url=secured.envoy.url) as client:
        assert (await client.get("/api/v1/health")).status_code == 200


async def test_a_rotated_key_is_fetched_when_first_seen(secured: SecuredStack, issuer: Issuer) -> None:
    issuer.add_key("k2")  # the issuer rotates; the server has only cached k1
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secured.app.port}") as channel:
        reply = await ThrottlingServiceStub(channel).ListPlans(
            pb.ListPlansRequest(page_size=1), metadata=tuple(authorization(issuer.token(kid="k2")).items())
        )
    assert reply is not None


def test_unsafe_algorithms_are_refused_in_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="AUTH_ALGORITHMS"):
        make_settings(auth_issuer="https://issuer.example", auth_algorithms="RS256,HS256")
