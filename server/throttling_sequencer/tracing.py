"""OpenTelemetry: a tracer provider for the process and the gRPC server interceptor.

Spans are always created (logs carry their ids); they are exported only when configured.
"""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

SERVICE_NAME = "throttling-sequencer"


def tracer_provider(exporter: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    return provider


def configure(exporter: str) -> TracerProvider:
    """Install the process-wide provider once; later calls reuse it (tests start many servers)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = tracer_provider(exporter)
    trace.set_tracer_provider(provider)
    return provider


def server_interceptor(provider: TracerProvider) -> grpc.aio.ServerInterceptor[Any, Any]:
    interceptor: grpc.aio.ServerInterceptor[Any, Any] = aio_server_interceptor(tracer_provider=provider)
    return interceptor
