"""The running service: open what it needs, serve gRPC with health and reflection, stop gracefully.

One lifecycle, an AsyncExitStack: storage, planner threads, the metrics endpoint, tracing, then
the server, opened in that order and closed in reverse. Health stays NOT_SERVING until the
planners' compiled kernels are warm, so no request waits for a compilation. On stop, health
flips to NOT_SERVING (Envoy stops routing new requests), in-flight RPCs and streams get
`shutdown_grace_seconds` to finish, spans are flushed, the metrics endpoint closes, planner
threads end, and storage flushes and closes last.
"""

from __future__ import annotations

import asyncio
import os
import signal
from contextlib import AsyncExitStack

import punq
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer
from loguru import logger

from throttling_sequencer import container as composition
from throttling_sequencer.container import SERVICE_NAME, KernelWarmUp
from throttling_sequencer.settings import Settings
from throttling_sequencer.startup import GRPC_PORT_SETTING, ensure_port_free


class Application:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: Components are built when `start` first needs them: register replacements before it.
        self.container: punq.Container = composition.build(settings)
        self.port: int | None = None
        self.metrics_port: int | None = None
        self._stack: AsyncExitStack | None = None
        self._grace = settings.shutdown_grace_seconds

    @property
    def health(self) -> HealthServicer:
        found: HealthServicer = self.container.resolve(HealthServicer)
        return found

    async def start(self) -> int:
        """Open everything and serve; returns the bound port (useful when configured as 0) once
        health reports SERVING.

        Raises StartupError (one line saying what to change) when the port cannot be bound or
        another process holds this server's outbox journal.
        """
        settings, container = self.settings, self.container
        if not settings.reuse_port:  # workers share the port; their supervisor checked it
            ensure_port_free(settings.grpc_host, settings.grpc_port, GRPC_PORT_SETTING)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(composition.storage(container))
            await stack.enter_async_context(composition.planning(container))
            self.metrics_port = stack.enter_context(composition.metrics_endpoint(container))
            stack.enter_context(composition.traces(container))
            self.port = await stack.enter_async_context(composition.serving(container, lambda: self._grace))
            warm_up: KernelWarmUp = container.resolve(KernelWarmUp)
            await asyncio.to_thread(warm_up)
            for name in ("", SERVICE_NAME):
                await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
            self._stack = stack.pop_all()
        logger.info(
            "serving",
            address=f"{settings.grpc_host}:{self.port}",
            worker=settings.worker_index,
            pid=os.getpid(),
            tls=bool(settings.tls_cert_file),
            database=_redact(settings.resolved_database_url),
            strategy=settings.default_strategy,
        )
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """Drain and stop; safe to call twice."""
        if self._stack is None:
            return
        stack, self._stack = self._stack, None
        self._grace = self.settings.shutdown_grace_seconds if grace is None else grace
        await stack.aclose()
        logger.info("stopped")

    async def run_until_signalled(self) -> None:
        """Serve until SIGINT or SIGTERM, then stop gracefully (also when signalled while starting)."""
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop_requested.set)
        await self.start()
        await stop_requested.wait()
        await self.stop()


def _redact(url: str) -> str:
    """Hide a password in a database URL before logging it."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
