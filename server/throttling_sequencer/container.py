"""The composition root: the one place that chooses adapters, builds them from Settings and wires
them together (punq). Everything is built lazily, once, when first resolved, so a test can
register a replacement (a failing repository, a gated warm-up) before the server starts.

What needs opening and closing is opened by app.py (the server) and cli.py, in one AsyncExitStack
each, from the context managers below.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Protocol

import grpc
import punq
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from loguru import logger
from opentelemetry.sdk.trace import TracerProvider

from throttling.v1 import throttling_service_pb2, throttling_service_pb2_grpc
from throttling_sequencer import metrics, tracing
from throttling_sequencer.adapters.grpc.auth import Authenticator, IssuerKeys
from throttling_sequencer.adapters.grpc.interceptors import RequestBoundary
from throttling_sequencer.adapters.grpc.servicer import ThrottlingServicer
from throttling_sequencer.adapters.grpc.signing_keys import SigningKeys
from throttling_sequencer.adapters.grpc.validation import Limits
from throttling_sequencer.adapters.planners.exact import ExactPlanner
from throttling_sequencer.adapters.planners.genetic import GeneticPlanner
from throttling_sequencer.adapters.planners.kernel import warm
from throttling_sequencer.adapters.planners.random_search import RandomPlanner
from throttling_sequencer.adapters.storage.group_commit import GroupCommit
from throttling_sequencer.adapters.storage.journal import JournalInUse
from throttling_sequencer.adapters.storage.memory import InMemoryPlanRepository
from throttling_sequencer.adapters.storage.outbox import OutboxRepository
from throttling_sequencer.adapters.storage.tortoise_repository import TortoisePlanRepository, apply_migrations
from throttling_sequencer.domain.model import Strategy
from throttling_sequencer.domain.ports import Planner, PlanRepository
from throttling_sequencer.service.guidance import GuidanceService
from throttling_sequencer.service.lanes import FairLane, PlanningLanes
from throttling_sequencer.service.planning import PlanningService
from throttling_sequencer.settings import Settings
from throttling_sequencer.startup import (
    GRPC_PORT_SETTING,
    StartupError,
    ensure_data_dir,
    ensure_sqlite_opens,
)

SERVICE_NAME = throttling_service_pb2.DESCRIPTOR.services_by_name["ThrottlingService"].full_name
HEALTH_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


class KernelWarmUp(Protocol):
    """Loads (or compiles) the planners' compiled kernels; blocking, so run in a thread."""

    def __call__(self) -> None: ...


def build(settings: Settings) -> punq.Container:
    container = punq.Container()
    once = punq.Scope.singleton
    container.register(Settings, instance=settings)
    container.register(PlanRepository, factory=lambda: repository(settings), scope=once)
    container.register(PlanningLanes, factory=lambda: lanes(settings), scope=once)
    container.register(
        PlanningService,
        factory=lambda: PlanningService(
            planners=planners(),
            repository=container.resolve(PlanRepository),
            executor=container.resolve(PlanningLanes),
            default_strategy=Strategy(settings.default_strategy),
            answer_reserve_seconds=settings.answer_reserve_ms / 1000.0,
        ),
        scope=once,
    )
    container.register(
        GuidanceService,
        factory=lambda: GuidanceService(
            container.resolve(PlanningService), container.resolve(PlanRepository)
        ),
        scope=once,
    )
    container.register(
        Limits,
        instance=Limits(
            max_units=settings.max_units,
            max_stream_seconds=settings.max_stream_seconds,
            max_batch=settings.max_batch_assignments,
            max_batch_goals=settings.max_batch_goals,
            guide_idle_seconds=settings.guide_idle_seconds,
        ),
    )
    container.register(
        ThrottlingServicer,
        factory=lambda: ThrottlingServicer(
            container.resolve(PlanningService), container.resolve(GuidanceService), container.resolve(Limits)
        ),
        scope=once,
    )
    container.register(
        TracerProvider,
        factory=lambda: tracing.configure(settings.otel_exporter, ratio=settings.otel_sampler_ratio),
        scope=once,
    )
    container.register(RequestBoundary, factory=lambda: RequestBoundary(authenticator(settings)), scope=once)
    container.register(HealthServicer, factory=HealthServicer, scope=once)
    container.register(grpc.aio.Server, factory=lambda: server(container), scope=once)
    # A supervised worker finds the cache filled by its supervisor (compile_kernels) and only
    # loads: it never has a process of its own.
    container.register(KernelWarmUp, instance=_Kernels(isolated=not settings.supervised))
    return container


def repository(settings: Settings) -> PlanRepository:
    """The plan store the URL names; on Postgres (or when asked) behind the outbox journal; and
    concurrent writes committed together (one transaction, or one journal fsync, per group)."""
    if settings.storage_kind == "memory":
        return InMemoryPlanRepository()
    database = TortoisePlanRepository(settings.resolved_database_url)
    if not settings.uses_outbox:
        return GroupCommit(database)
    outbox = OutboxRepository(
        database,
        settings.outbox_journal,
        grace=settings.shutdown_grace_seconds,
        workers=settings.workers,
        max_pending=settings.outbox_max_pending,
        max_pending_bytes=settings.outbox_max_pending_bytes,
    )
    return GroupCommit(outbox)


def lanes(settings: Settings) -> PlanningLanes:
    return PlanningLanes(
        quick=FairLane(settings.planner_threads, "planner-quick"),
        long=FairLane(settings.long_planner_threads, "planner-long"),
        quick_seconds=settings.quick_plan_ms / 1000.0,
    )


def planners() -> dict[Strategy, Planner]:
    return {
        Strategy.EXACT: ExactPlanner(),
        Strategy.GENETIC: GeneticPlanner(),
        Strategy.RANDOM: RandomPlanner(),
    }


def authenticator(settings: Settings) -> Authenticator | None:
    """Bearer tokens from the configured issuer, or None: development mode, every caller anonymous."""
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
    keys = SigningKeys(
        IssuerKeys(settings.auth_issuer, settings.auth_jwks_url, settings.auth_jwks_timeout_seconds),
        lifespan=settings.auth_jwks_lifespan_seconds,
        failure_ttl=settings.auth_jwks_failure_cache_seconds,
        refresh_cooldown=settings.auth_refresh_cooldown_seconds,
    )
    return Authenticator(
        keys,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        algorithms=tuple(a.strip() for a in settings.auth_algorithms.split(",") if a.strip()),
        leeway_seconds=settings.auth_leeway_seconds,
        admin_role=settings.auth_admin_role,
        roles_claim=settings.auth_roles_claim,
    )


def server(container: punq.Container) -> grpc.aio.Server:
    """The gRPC server with its interceptors (tracing outermost, then the request boundary), the
    service, health and reflection; not yet bound."""
    settings: Settings = container.resolve(Settings)
    provider: TracerProvider = container.resolve(TracerProvider)
    built = grpc.aio.server(
        interceptors=[tracing.server_interceptor(provider), container.resolve(RequestBoundary)],
        options=[
            # Only workers share a port; otherwise a port in use must be an error.
            ("grpc.so_reuseport", 1 if settings.reuse_port else 0),
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_metadata_size", settings.max_metadata_bytes),
            ("grpc.absolute_max_metadata_size", settings.max_metadata_bytes),
            ("grpc.max_concurrent_streams", settings.max_concurrent_streams),
        ],
    )
    throttling_service_pb2_grpc.add_ThrottlingServiceServicer_to_server(
        container.resolve(ThrottlingServicer), built
    )
    health_pb2_grpc.add_HealthServicer_to_server(container.resolve(HealthServicer), built)
    if settings.reflection:
        reflection.enable_server_reflection((SERVICE_NAME, HEALTH_NAME, reflection.SERVICE_NAME), built)
    return built


# -- lifecycles: each opens on entry and closes on exit -------------------------------------


async def migrate(settings: Settings) -> None:
    """Bring the database schema up to date. The embedded database's directory is created and
    the file opened first, so an unusable one is a StartupError, not Tortoise's silent hang."""
    if settings.embedded_database:
        ensure_data_dir(settings.data_dir)
        await asyncio.to_thread(ensure_sqlite_opens, settings.resolved_database_url)
    await apply_migrations(settings.resolved_database_url)


@asynccontextmanager
async def storage(container: punq.Container) -> AsyncIterator[PlanRepository]:
    """The plan store, open; the embedded database is migrated first (others by `migrate`)."""
    settings: Settings = container.resolve(Settings)
    if settings.embedded_database:
        await migrate(settings)
    elif settings.uses_outbox:  # the journal lives in the data directory
        ensure_data_dir(settings.data_dir)
    store: PlanRepository = container.resolve(PlanRepository)
    try:
        await store.open()
    except JournalInUse as error:  # another live server on this data directory and index
        raise StartupError(str(error)) from None
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def planning(container: punq.Container) -> AsyncIterator[PlanningService]:
    """The planning service; on exit its planner threads finish (plans still queued are dropped)."""
    service: PlanningService = container.resolve(PlanningService)
    threads: PlanningLanes = container.resolve(PlanningLanes)
    try:
        yield service
    finally:
        await asyncio.to_thread(threads.shutdown, True)


@contextmanager
def metrics_endpoint(container: punq.Container) -> Iterator[int | None]:
    """Prometheus /metrics on THROTTLING_METRICS_PORT plus the worker's index (0: none)."""
    settings: Settings = container.resolve(Settings)
    if not settings.metrics_port:
        yield None
        return
    service: PlanningService = container.resolve(PlanningService)
    port = settings.metrics_port + settings.worker_index
    with metrics.endpoint(settings.grpc_host, port, service.storage_status) as bound:
        yield bound


@contextmanager
def traces(container: punq.Container) -> Iterator[TracerProvider]:
    """The process's tracer provider; spans still batched are flushed on exit."""
    provider: TracerProvider = container.resolve(TracerProvider)
    try:
        yield provider
    finally:
        tracing.shutdown()


@asynccontextmanager
async def serving(container: punq.Container, grace: Callable[[], float]) -> AsyncIterator[int]:
    """The gRPC server, bound and started, its health NOT_SERVING until the caller says otherwise;
    yields its port. On exit health turns NOT_SERVING
    (load balancers stop routing here) and in-flight RPCs get `grace()` seconds to finish.

    Raises StartupError (one line saying what to change) when the port cannot be bound.
    """
    settings: Settings = container.resolve(Settings)
    health: HealthServicer = container.resolve(HealthServicer)
    for name in ("", SERVICE_NAME):  # until the caller says SERVING
        await health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    grpc_server: grpc.aio.Server = container.resolve(grpc.aio.Server)
    try:
        port = await _bind(grpc_server, settings)
    except RuntimeError:  # gRPC's bind failed: the port was taken since it was checked
        raise StartupError(
            f"cannot listen on {settings.grpc_address}: the port is in use or the address "
            f"is not this machine's; set {GRPC_PORT_SETTING} or THROTTLING_GRPC_HOST"
        ) from None
    await grpc_server.start()
    try:
        yield port
    finally:
        seconds = grace()
        logger.info("shutting down", grace_seconds=seconds)
        await health.enter_graceful_shutdown()
        await grpc_server.stop(seconds)


async def _bind(grpc_server: grpc.aio.Server, settings: Settings) -> int:
    if not settings.tls_cert_file:
        return grpc_server.add_insecure_port(settings.grpc_address)
    key, chain = Path(settings.tls_key_file), Path(settings.tls_cert_file)
    pair = await asyncio.to_thread(lambda: (key.read_bytes(), chain.read_bytes()))
    credentials = grpc.ssl_server_credentials([pair])
    return grpc_server.add_secure_port(settings.grpc_address, credentials)


def compile_kernels() -> None:
    """Fill numba's disk cache with every kernel, from a child process (blocking)."""
    warm.compile_in_child()


class _Kernels:
    """The planners' kernels, warmed once per process: later servers in it find them loaded.

    `isolated`: compile what the disk cache lacks in a child process first (see kernel/warm.py).
    """

    _lock = threading.Lock()
    _warmed = False

    def __init__(self, isolated: bool) -> None:
        self._isolated = isolated

    def __call__(self) -> None:
        with _Kernels._lock:
            if _Kernels._warmed:
                return
            done = warm.warm_up(isolated=self._isolated)
            logger.info(
                # The first start compiles in a child process into the disk cache (tens of
                # seconds), then loads from it: `compiled_here` counts only this process's.
                "planner kernels ready",
                loaded_from_cache=done.loaded,
                compiled_here=done.compiled,
                seconds=done.seconds,
            )
            _Kernels._warmed = True
