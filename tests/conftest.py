"""Fixtures that start real servers: a grpc.aio server on an ephemeral port, and Envoy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from loguru import logger

from bridge.envoy import command, render
from bridge.envoy.settings import EnvoySettings
from bridge.graphql.settings import GraphQLSettings
from bridge.settings import BridgeSettings
from failover import lab
from failover.lab import Cluster
from tests.support import answers_200, free_port, stop_process, wait_for
from throttling.v1 import throttling_service_pb2_grpc
from throttling_sequencer import logs
from throttling_sequencer.app import Application
from throttling_sequencer.settings import Settings

logs.configure("WARNING", "text")


def make_settings(**changes: object) -> Settings:
    base = Settings(
        grpc_port=0, database_url="memory://", log_level="WARNING", shutdown_grace_seconds=2.0, metrics_port=0
    )
    return base.with_changes(**changes)


@pytest.fixture(scope="session")
async def app() -> AsyncIterator[Application]:
    application = Application(make_settings())
    await application.start()
    yield application
    await application.stop()


@pytest.fixture(scope="session")
async def channel(app: Application) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as ch:
        yield ch


@pytest.fixture(scope="session")
def stub(channel: grpc.aio.Channel) -> throttling_service_pb2_grpc.ThrottlingServiceStub:
    return throttling_service_pb2_grpc.ThrottlingServiceStub(channel)


class EnvoyProcess:
    def __init__(
        self,
        grpc_port: int,
        workdir: Path,
        graphql_port: int = 9,
        envoy: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> None:
        """Envoy in front of `grpc_port`; `envoy` changes its own section, `overrides` the rest."""
        self.settings = BridgeSettings(
            grpc_port=grpc_port,
            envoy=EnvoySettings(
                port=free_port(), admin_port=free_port(), health_interval="0.2s", **(envoy or {})
            ),
            graphql=GraphQLSettings(port=graphql_port),
            **overrides,
        )
        self.config = workdir / "envoy.yaml"
        self.config.write_text(render(self.settings))
        self.log = workdir / "envoy.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.envoy.port}"

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command(self.config), stdout=log, stderr=subprocess.STDOUT)

    async def wait_healthy(self) -> None:
        """Until Envoy answers 200 on the health route (its upstream server is SERVING)."""
        async with httpx.AsyncClient(base_url=self.url) as client:

            async def healthy() -> bool:
                assert self.process is not None and self.process.poll() is None, self.log.read_text()
                return await answers_200(client, "/api/v1/health")

            await wait_for(healthy, f"Envoy on {self.url} to answer /api/v1/health with 200")

    async def counter(self, name: str) -> int:
        """One of Envoy's counters (e.g. cluster.grpc_server.upstream_rq_total), from its admin port."""
        admin = f"http://127.0.0.1:{self.settings.envoy.admin_port}"
        async with httpx.AsyncClient(base_url=admin) as client:
            reply = await client.get("/stats", params={"filter": f"^{name}$", "format": "json"})
        reply.raise_for_status()
        (found,) = [stat["value"] for stat in reply.json()["stats"] if stat.get("name") == name]
        return int(found)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


@asynccontextmanager
async def sidecar_process(grpc_port: int, workdir: Path) -> AsyncIterator[str]:
    """The Strawberry sidecar as its own process, calling `grpc_port`; yields its base URL."""
    port = free_port()
    log = workdir / "sidecar.log"
    env = {
        **os.environ,
        "THROTTLING_GRAPHQL_PORT": str(port),
        "THROTTLING_GRAPHQL_GRPC_TARGET": f"127.0.0.1:{grpc_port}",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: ASYNC220 (starting is instant; the loop polls it below)
            [sys.executable, "-m", "bridge.graphql"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:

            async def healthy() -> bool:
                assert process.poll() is None, log.read_text()
                return await answers_200(client, "/healthz")

            await wait_for(healthy, f"the GraphQL sidecar on {url} to answer /healthz with 200")
        yield url
    finally:
        stop_process(process)


@asynccontextmanager
async def envoy_process(
    grpc_port: int, graphql_url: str, workdir: Path, **overrides: Any
) -> AsyncIterator[EnvoyProcess]:
    proxy = EnvoyProcess(grpc_port, workdir, int(graphql_url.rsplit(":", 1)[1]), **overrides)
    proxy.start()
    try:
        await proxy.wait_healthy()
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="session")
async def graphql_sidecar(app: Application, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    assert app.port is not None
    async with sidecar_process(app.port, tmp_path_factory.mktemp("graphql")) as url:
        yield url


@pytest.fixture(scope="session")
async def envoy(
    app: Application, graphql_sidecar: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[EnvoyProcess]:
    assert app.port is not None
    async with envoy_process(app.port, graphql_sidecar, tmp_path_factory.mktemp("envoy")) as proxy:
        yield proxy


@pytest.fixture
async def rest(envoy: EnvoyProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=envoy.url, timeout=30.0) as client:
        yield client


@pytest.fixture
def log_records() -> Iterator[list[Any]]:
    """Loguru records emitted while the test runs (the test server runs in this process)."""
    records: list[Any] = []
    sink = logger.add(lambda message: records.append(message.record), level="INFO")
    yield records
    logger.remove(sink)


@pytest.fixture(scope="session")
def repo_root() -> Iterator[Path]:
    yield Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A real Postgres 15 cluster for the session (runs as the postgres user when we are root)."""
    root = Path(tempfile.mkdtemp(prefix="throttling-pg-"))
    cluster = Cluster("pg", root, lab.free_port())
    root.chmod(0o755)
    (root / "sockets").mkdir()
    if os.geteuid() == 0:
        for path in (root, root / "sockets"):
            shutil.chown(path, lab.USER, lab.USER)
    cluster.init_primary()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def new_database(cluster: Cluster) -> str:
    """A fresh database on the cluster; its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    cluster.sql(f"CREATE DATABASE {name}")
    return f"postgres://{lab.USER}:@127.0.0.1:{cluster.port}/{name}"
