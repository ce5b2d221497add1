"""OpenTelemetry: a tracer provider for the process and the gRPC server interceptor.

Spans are always created (logs carry their ids); they are exported only when configured:
"console" prints them, "otlp" sends them to the collector at OTEL_EXPORTER_OTLP_ENDPOINT
(the standard OpenTelemetry variable; default http://localhost:4317).
"""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

SERVICE_NAME = "throttling-sequencer"


def tracer_provider(exporter: str, service_name: str = SERVICE_NAME) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def configure(exporter: str, service_name: str = SERVICE_NAME) -> TracerProvider:
    """Install the process-wide provider once; later calls reuse it (tests start many servers)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = tracer_provider(exporter, service_name)
    trace.set_tracer_provider(provider)
    return provider


def server_interceptor(provider: TracerProvider) -> grpc.aio.ServerInterceptor[Any, Any]:
    """Spans for the service's RPCs. Not for health and reflection: probes every second are
    noise, and the interceptor iterates every server stream as an async generator, which
    breaks health's Watch (a coroutine that writes: it answered UNKNOWN, a TypeError)."""
    quiet = filters.any_of(filters.health_check(), filters.service_prefix("grpc.reflection."))
    interceptor: grpc.aio.ServerInterceptor[Any, Any] = aio_server_interceptor(
        tracer_provider=provider, filter_=filters.negate(quiet)
    )
    return interceptor


def shutdown() -> None:
    """Flush spans still batched (on graceful shutdown)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_millis=2000)
