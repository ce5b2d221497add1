"""The running service: start the gRPC server with health and reflection, stop it gracefully.

Shutdown order: health flips to NOT_SERVING (Envoy stops routing new requests), in-flight RPCs
and streams get `shutdown_grace_seconds` to finish, then storage closes and planner threads end.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from loguru import logger

from throttling.v1 import throttling_service_pb2, throttling_service_pb2_grpc
from throttling_sequencer import container as composition
from throttling_sequencer import metrics, tracing
from throttling_sequencer.adapters.grpc.auth import Authenticator
from throttling_sequencer.adapters.grpc.interceptors import RequestBoundary
from throttling_sequencer.adapters.grpc.servicer import ThrottlingServicer
from throttling_sequencer.adapters.storage.journal import JournalInUse
from throttling_sequencer.adapters.storage.status import StorageStatus
from throttling_sequencer.adapters.storage.tortoise_repository import apply_migrations
from throttling_sequencer.container import ManagedRepository
from throttling_sequencer.service.lanes import PlanningLanes
from throttling_sequencer.settings import Settings
from throttling_sequencer.startup import (
    GRPC_PORT_SETTING,
    SQLITE_PREFIX,
    StartupError,
    ensure_data_dir,
    ensure_port_free,
    ensure_sqlite_opens,
)

SERVICE_NAME = throttling_service_pb2.DESCRIPTOR.services_by_name["ThrottlingService"].full_name


class Application:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.container = composition.build(settings)
        self.health = HealthServicer()
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None
        self._metrics: WSGIServer | None = None
        self.metrics_port: int | None = None
        self._stopped = asyncio.Event()

    async def start(self) -> int:
        """Open storage, start serving; returns the bound port (useful when configured as 0).

        Raises StartupError (one line saying what to change) when the port cannot be bound or
        another process holds this server's outbox journal.
        """
        if not self.settings.reuse_port:  # workers share the port; their supervisor checked it
            ensure_port_free(self.settings.grpc_host, self.settings.grpc_port, GRPC_PORT_SETTING)
        url = self.settings.resolved_database_url
        if url.startswith(SQLITE_PREFIX) or self.settings.uses_outbox:
            ensure_data_dir(self.settings.data_dir)
        if url.startswith(SQLITE_PREFIX):
            await asyncio.to_thread(ensure_sqlite_opens, url)
            await apply_migrations(url)
        repository: ManagedRepository = self.container.resolve(ManagedRepository)
        try:
            await repository.open()
        except JournalInUse as error:  # another server uses this data directory: say which
            raise StartupError(str(error)) from None

        provider = tracing.configure(self.settings.otel_exporter)
        authenticator = _authenticator(self.settings)
        server = grpc.aio.server(
            interceptors=[tracing.server_interceptor(provider), RequestBoundary(authenticator)],
            options=[
                # Only workers share a port; otherwise a port in use must be an error.
                ("grpc.so_reuseport", 1 if self.settings.reuse_port else 0),
                ("grpc.max_receive_message_length", self.settings.max_message_bytes),
                ("grpc.max_metadata_size", self.settings.max_metadata_bytes),
                ("grpc.absolute_max_metadata_size", self.settings.max_metadata_bytes),
                ("grpc.max_concurrent_streams", self.settings.max_concurrent_streams),
            ],
        )
        servicer: ThrottlingServicer = self.container.resolve(ThrottlingServicer)
        throttling_service_pb2_grpc.add_ThrottlingServiceServicer_to_server(servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        if self.settings.reflection:
            names = (
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            )
            reflection.enable_server_reflection(names, server)
        try:
            self.port = await self._bind(server)
        except RuntimeError:  # gRPC's bind failed: the port was taken since the check above
            await repository.close()
            raise StartupError(
                f"cannot listen on {self.settings.grpc_address}: the port is in use or the address "
                f"is not this machine's; set {GRPC_PORT_SETTING} or THROTTLING_GRPC_HOST"
            ) from None
        await server.start()
        self._server = server
        if self.settings.metrics_port:
            status: StorageStatus = self.container.resolve(StorageStatus)
            port = self.settings.metrics_port + self.settings.worker_index
            try:
                self._metrics = metrics.serve(
                    self.settings.grpc_host,
                    port,
                    lambda: status.pending_writes,
                    lambda: status.poisoned_writes,
                )
                self.metrics_port = self._metrics.server_address[1]
            except OSError as error:  # metrics are worth a log line, not an outage
                logger.error("metrics endpoint not started", port=port, error=str(error))
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        logger.info(
            "serving",
            address=f"{self.settings.grpc_host}:{self.port}",
            worker=self.settings.worker_index,
            pid=os.getpid(),
            tls=bool(self.settings.tls_cert_file),
            database=_redact(url),
            strategy=self.settings.default_strategy,
        )
        return self.port

    async def _bind(self, server: grpc.aio.Server) -> int:
        if not self.settings.tls_cert_file:
            return server.add_insecure_port(self.settings.grpc_address)
        key, chain = Path(self.settings.tls_key_file), Path(self.settings.tls_cert_file)
        pair = await asyncio.to_thread(lambda: (key.read_bytes(), chain.read_bytes()))
        credentials = grpc.ssl_server_credentials([pair])
        return server.add_secure_port(self.settings.grpc_address, credentials)

    async def stop(self, grace: float | None = None) -> None:
        """Drain and stop; safe to call twice."""
        if self._server is None:
            return
        server, self._server = self._server, None
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        logger.info("shutting down", grace_seconds=grace)
        await self.health.enter_graceful_shutdown()
        await server.stop(grace)
        repository: ManagedRepository = self.container.resolve(ManagedRepository)
        await repository.close()
        lanes: PlanningLanes = self.container.resolve(PlanningLanes)
        lanes.shutdown(cancel_futures=True)
        if self._metrics is not None:
            self._metrics.shutdown()
            self._metrics.server_close()
        tracing.shutdown()
        self._stopped.set()
        logger.info("stopped")

    async def run_until_signalled(self) -> None:
        """Serve until SIGINT or SIGTERM, then stop gracefully."""
        await self.start()
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop_requested.set)
        await stop_requested.wait()
        await self.stop()


def _authenticator(settings: Settings) -> Authenticator | None:
    if not settings.auth_issuer:
        logger.warning(
            "authentication is OFF (development mode): every caller is 'anonymous'; "
            "set THROTTLING_AUTH_ISSUER to require bearer tokens"
        )
        return None
    logger.info(
        "bearer tokens required",
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        admin_role=settings.auth_admin_role or None,
    )
    return Authenticator(
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        algorithms=tuple(a.strip() for a in settings.auth_algorithms.split(",") if a.strip()),
        leeway_seconds=settings.auth_leeway_seconds,
        jwks_url=settings.auth_jwks_url,
        refresh_cooldown=settings.auth_refresh_cooldown_seconds,
        jwks_lifespan=settings.auth_jwks_lifespan_seconds,
        failure_ttl=settings.auth_jwks_failure_cache_seconds,
        fetch_timeout=settings.auth_jwks_timeout_seconds,
        admin_role=settings.auth_admin_role,
        roles_claim=settings.auth_roles_claim,
    )


def _redact(url: str) -> str:
    """Hide a password in a database URL before logging it."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
