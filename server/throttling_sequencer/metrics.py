"""Prometheus metrics: per-RPC counts and latency, plans by strategy, the planner's certified
gap, guidance ticks and re-plans, and the outbox backlog and poisoned writes. Served on
THROTTLING_METRICS_PORT (0 turns the endpoint off).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from loguru import logger
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from throttling_sequencer.domain.model import GuidanceSummary, Plan
from throttling_sequencer.domain.ports import StorageStatus

RPCS = Counter("throttling_rpc_total", "RPCs handled, by method and final status", ["method", "status"])
RPC_ERRORS = Counter(
    "throttling_rpc_errors_total", "RPCs that ended in an error status", ["method", "status"]
)
RPC_SECONDS = Histogram(
    "throttling_rpc_duration_seconds",
    "RPC wall time",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
PLANS = Counter("throttling_plans_total", "Plans answered, by strategy", ["strategy"])
PLAN_GAP = Histogram(
    "throttling_plan_optimality_gap",
    "score - certified lower bound, for strategies that certify one",
    buckets=(1e-9, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 1, 10),
)
GUIDE_TICK_SECONDS = Histogram(
    "throttling_guide_tick_seconds",
    "Guidance: from an observation's arrival to the next tick's answer (re-planning included)",
    ["replanned"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
GUIDE_REPLANS = Counter("throttling_guide_replans_total", "Guidance: ticks answered after planning again")
GUIDE_SESSIONS = Counter(
    "throttling_guide_sessions_total",
    "Guidance sessions ended, by whether the unit reported the last tick",
    ["completed"],
)
PENDING_WRITES = Gauge("throttling_pending_writes", "Answered plans journaled but not yet in the database")
POISONED_WRITES = Gauge(
    "throttling_poisoned_writes", "Answered plans the database refused for good, kept in a poison file"
)


def observe_rpc(method: str, status: str, seconds: float) -> None:
    _rpc(method, status).inc()
    if status != "OK":
        _rpc_error(method, status).inc()
    _rpc_seconds(method).observe(seconds)


def observe_plan(plan: Plan) -> None:
    _plans(plan.strategy.value).inc()
    if plan.optimality_gap is not None:
        PLAN_GAP.observe(plan.optimality_gap)


# Each labelled child looked up once: `labels()` hashes, locks and checks its labels every call.
# (Methods, statuses and strategies are few and fixed, so these caches stay small.)
_rpc = functools.cache(RPCS.labels)
_rpc_error = functools.cache(RPC_ERRORS.labels)
_rpc_seconds = functools.cache(RPC_SECONDS.labels)
_plans = functools.cache(PLANS.labels)


def observe_guide_tick(seconds: float, replanned: bool) -> None:
    GUIDE_TICK_SECONDS.labels(str(replanned).lower()).observe(seconds)
    if replanned:
        GUIDE_REPLANS.inc()


def observe_guide_session(summary: GuidanceSummary) -> None:
    GUIDE_SESSIONS.labels(str(summary.completed).lower()).inc()


@contextmanager
def endpoint(host: str, port: int, status: Callable[[], StorageStatus]) -> Iterator[int | None]:
    """Serve /metrics (from a daemon thread) while the block runs; yields the bound port, or None
    when it could not start: metrics are worth a log line, not an outage."""
    PENDING_WRITES.set_function(lambda: status().pending_writes)
    POISONED_WRITES.set_function(lambda: status().poisoned_writes)
    try:
        server, _thread = start_http_server(port, addr=host)
    except OSError as error:
        logger.error("metrics endpoint not started", port=port, error=str(error))
        yield None
        return
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
