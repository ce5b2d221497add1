"""OpenTelemetry: a tracer provider for the process and the gRPC server interceptor.

Every RPC has a trace context (logs carry its ids), but only sampled traces record spans, so an
unsampled call pays for no span attributes, events or processors. A call that arrives with a
sampled `traceparent` (Envoy, the sidecar, a traced client) is always recorded; of the traces
this server starts itself, THROTTLING_OTEL_SAMPLER_RATIO are (default: all when an exporter is
configured, none without one: nobody would read them). Recorded spans are exported only when
configured: "console" prints them, "otlp" sends them to the collector at
OTEL_EXPORTER_OTLP_ENDPOINT (the standard OpenTelemetry variable; default http://localhost:4317).
"""

from __future__ import annotations

import random
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

SERVICE_NAME = "throttling-sequencer"


class OwnRandomIds(IdGenerator):
    """Random trace and span ids from a generator of this process's tracing alone (seeded from
    os.urandom): OpenTelemetry's default draws from the global `random`, so every call moved the
    state a program (or a property-based test running beside the server) seeded and relies on."""

    def __init__(self) -> None:
        self._random = random.Random()

    def generate_span_id(self) -> int:
        return self._nonzero(64)

    def generate_trace_id(self) -> int:
        return self._nonzero(128)

    def _nonzero(self, bits: int) -> int:
        """A random id of `bits` bits; 0 is the invalid id of either kind."""
        while not (value := self._random.getrandbits(bits)):
            pass
        return value


def sampled_share(exporter: str, ratio: float | None) -> float:
    """The share of traces this process starts that record spans: `ratio` when set, else all of
    them with an exporter and none without."""
    if ratio is not None:
        return ratio
    return 0.0 if exporter == "none" else 1.0


def tracer_provider(
    exporter: str, service_name: str = SERVICE_NAME, ratio: float | None = None
) -> TracerProvider:
    """Spans of sampled parents always; of new traces, `sampled_share` of them."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        sampler=ParentBased(TraceIdRatioBased(sampled_share(exporter, ratio))),
        id_generator=OwnRandomIds(),
    )
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def configure(exporter: str, service_name: str = SERVICE_NAME, ratio: float | None = None) -> TracerProvider:
    """Install the process-wide provider once; later calls reuse it (tests start many servers)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = tracer_provider(exporter, service_name, ratio)
    trace.set_tracer_provider(provider)
    return provider


def server_interceptor(provider: TracerProvider) -> grpc.aio.ServerInterceptor[Any, Any]:
    """Spans for the service's RPCs. Not for health and reflection: probes every second are
    noise, and the interceptor iterates every server stream as an async generator, which
    breaks health's Watch (a coroutine that writes: it answered UNKNOWN, a TypeError)."""
    interceptor: grpc.aio.ServerInterceptor[Any, Any] = aio_server_interceptor(
        tracer_provider=provider, filter_=_traced
    )
    return interceptor


#: Methods never traced: health checks and reflection.
QUIET_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _traced(details: grpc.HandlerCallDetails) -> bool:
    """The instrumentation's own filters check each call's type against a Protocol, twice per
    call: a prefix test of the method says the same."""
    method: str = details.method
    return not method.startswith(QUIET_PREFIXES)


def shutdown() -> None:
    """Flush spans still batched (on graceful shutdown)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_millis=2000)
