"""TLS when certificates are configured: on the gRPC port, on Envoy's listener, and between them."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import EnvoyProcess, make_settings
from tests.support import DEFAULT_STATE_JSON, answers_200, game_state_pb, wait_for
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.app import Application


@dataclass
class Certificates:
    ca: Path
    cert: Path
    key: Path


def make_certificates(directory: Path) -> Certificates:
    """A throwaway CA and a server certificate for localhost and 127.0.0.1."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "throttling test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    out.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return out


@dataclass
class Secure:
    app: Application
    envoy: EnvoyProcess
    certificates: Certificates


@pytest.fixture(scope="module")
async def secure(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Secure]:
    certificates = make_certificates(tmp_path_factory.mktemp("certs"))
    app = Application(make_settings(tls_cert_file=str(certificates.cert), tls_key_file=str(certificates.key)))
    await app.start()
    assert app.port is not None
    proxy = EnvoyProcess(
        app.port,
        tmp_path_factory.mktemp("tls-envoy"),
        envoy={
            "tls_cert_file": str(certificates.cert),
            "tls_key_file": str(certificates.key),
            "upstream_ca_file": str(certificates.ca),
        },
    )
    proxy.start()
    try:
        context = ssl.create_default_context(cafile=str(certificates.ca))
        health = f"https://127.0.0.1:{proxy.settings.envoy.port}/api/v1/health"
        async with httpx.AsyncClient(verify=context) as client:
            await wait_for(lambda: answers_200(client, health), f"Envoy to answer {health} with 200 over TLS")
        yield Secure(app, proxy, certificates)
    finally:
        proxy.stop()
        await app.stop()


async def test_grpc_speaks_tls_and_refuses_plaintext(secure: Secure) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=secure.certificates.ca.read_bytes())
    async with grpc.aio.secure_channel(f"localhost:{secure.app.port}", credentials) as channel:
        reply = await ThrottlingServiceStub(channel).CreatePlan(
            pb.CreatePlanRequest(game_state=game_state_pb())
        )
    assert reply.plan.goals
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secure.app.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await ThrottlingServiceStub(channel).CreatePlan(
                pb.CreatePlanRequest(game_state=game_state_pb()), timeout=3
            )
    assert raised.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_envoy_serves_https_and_calls_the_server_over_tls(secure: Secure) -> None:
    context = ssl.create_default_context(cafile=str(secure.certificates.ca))
    url = f"https://127.0.0.1:{secure.envoy.settings.envoy.port}"
    async with httpx.AsyncClient(base_url=url, verify=context) as client:
        response = await client.post("/api/v1/throttle/calculate_throttle_steps", json=DEFAULT_STATE_JSON)
    assert response.status_code == 200 and response.json()
    async with httpx.AsyncClient(base_url=url, verify=False) as client:
        with pytest.raises(httpx.HTTPError):
            await client.get(url.replace("https", "http") + "/api/v1/health")
