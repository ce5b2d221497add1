"""One trace per request: Envoy -> (GraphQL sidecar ->) gRPC server -> database.

Envoy and the sidecar export over OTLP to a collector served by this test; the gRPC server
runs in this process, so an in-memory exporter sees its spans.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import EnvoyProcess, make_settings
from tests.guided import SimulatedUnit, guide, start
from tests.support import (
    DEFAULT_STATE_JSON,
    NotReady,
    answers_200,
    free_port,
    game_state_pb,
    stop_process,
    wait_for,
)
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.app import Application


@dataclass
class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace collector that keeps (service, span name, trace id) triples."""

    spans: list[tuple[str, str, str]] = field(default_factory=list)

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            service = next(
                (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"),
                "?",
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append((service, span.name, span.trace_id.hex()))
        return trace_service_pb2.ExportTraceServiceResponse()


@dataclass
class Traced:
    app: Application
    envoy: EnvoyProcess
    collector: Collector
    server_spans: InMemorySpanExporter


@pytest.fixture(scope="module")
async def traced(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Traced]:
    collector = Collector()
    otlp = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, otlp)
    otlp_port = otlp.add_insecure_port("127.0.0.1:0")
    await otlp.start()

    workdir = tmp_path_factory.mktemp("traced")
    app = Application(make_settings(database_url="", data_dir=workdir / "data"))  # SQLite: database spans
    await app.start()
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    server_spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(server_spans))

    graphql_port = free_port()
    env = {
        **os.environ,
        "THROTTLING_GRAPHQL_PORT": str(graphql_port),
        "THROTTLING_GRAPHQL_GRPC_TARGET": f"127.0.0.1:{app.port}",
        "THROTTLING_OTEL_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    sidecar = subprocess.Popen([sys.executable, "-m", "bridge.graphql"], env=env)  # noqa: ASYNC220
    assert app.port is not None
    proxy = EnvoyProcess(app.port, workdir, graphql_port, envoy={"otlp_endpoint": f"127.0.0.1:{otlp_port}"})
    proxy.start()
    try:
        await proxy.wait_healthy()
        sidecar_health = f"http://127.0.0.1:{graphql_port}/healthz"
        async with httpx.AsyncClient() as client:
            await wait_for(lambda: answers_200(client, sidecar_health), f"the sidecar at {sidecar_health}")
        yield Traced(app, proxy, collector, server_spans)
    finally:
        proxy.stop()
        stop_process(sidecar)
        server_spans.shutdown()
        await app.stop()
        await otlp.stop(None)


def traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


async def spans_of(traced: Traced, trace_id: str, services: set[str]) -> dict[str, list[str]]:
    """Wait until every service has exported a span of this trace; service -> span names."""
    found: dict[str, list[str]] = {}

    def exported() -> bool:  # Envoy flushes its spans every few seconds
        found.clear()
        for service, name, tid in traced.collector.spans:
            if tid == trace_id:
                found.setdefault(service, []).append(name)
        for span in traced.server_spans.get_finished_spans():
            if format(span.context.trace_id, "032x") == trace_id:
                found.setdefault("throttling-sequencer", []).append(span.name)
        return services <= set(found)

    try:
        await wait_for(exported, f"spans of trace {trace_id} from {sorted(services)}")
    except NotReady as error:
        raise NotReady(f"{error}; found only {found}") from None
    return found


async def test_a_rest_call_is_one_trace_from_envoy_to_the_database(traced: Traced) -> None:
    trace_id, header = traceparent()
    async with httpx.AsyncClient(base_url=traced.envoy.url) as client:
        response = await client.post(
            "/api/v1/plans", json={"gameState": DEFAULT_STATE_JSON}, headers={"traceparent": header}
        )
    assert response.status_code == 200
    found = await spans_of(traced, trace_id, {"throttling-envoy", "throttling-sequencer"})
    assert "throttling-envoy" in found, found
    server = found.get("throttling-sequencer", [])
    assert "/throttling.v1.ThrottlingService/CreatePlan" in server
    assert "sqlite INSERT plans" in server


async def test_a_graphql_call_is_one_trace_through_the_sidecar(traced: Traced) -> None:
    trace_id, header = traceparent()
    query = "{ plans(first: 1) { plans { id } } }"
    async with httpx.AsyncClient(base_url=traced.envoy.url) as client:
        response = await client.post("/graphql", json={"query": query}, headers={"traceparent": header})
    assert response.status_code == 200 and "errors" not in response.json()
    found = await spans_of(
        traced, trace_id, {"throttling-envoy", "throttling-graphql", "throttling-sequencer"}
    )
    assert {"throttling-envoy", "throttling-graphql", "throttling-sequencer"} <= set(found), found
    assert "/throttling.v1.ThrottlingService/ListPlans" in found["throttling-sequencer"]
    assert "sqlite SELECT plans" in found["throttling-sequencer"]


async def test_a_call_without_a_sampled_parent_records_no_spans_yet_logs_its_trace_id(
    traced: Traced, log_records: list[Any]
) -> None:
    """THROTTLING_OTEL_SAMPLER_RATIO unset and no exporter: traces the server starts itself are
    not recorded (no span per call), but every log line still names its trace."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{traced.app.port}") as channel:
        call = ThrottlingServiceStub(channel).CreatePlan(
            pb.CreatePlanRequest(game_state=game_state_pb()), metadata=(("x-request-id", "unsampled-1"),)
        )
        await call
    lines = [r["extra"] for r in log_records if r["extra"].get("request_id") == "unsampled-1"]
    assert len(lines) >= 2  # "planned" and "rpc"
    trace_ids = {line["trace_id"] for line in lines}
    assert len(trace_ids) == 1 and len(next(iter(trace_ids))) == 32
    recorded = {format(s.context.trace_id, "032x") for s in traced.server_spans.get_finished_spans()}
    assert not trace_ids & recorded


async def test_a_guidance_session_through_envoy_is_one_trace(traced: Traced) -> None:
    """Native gRPC through Envoy's port: the bidi Guide (no HTTP route) passes the transcoder."""
    trace_id, header = traceparent()
    game = game_state_pb(distance=900.0)
    unit = SimulatedUnit(game, friction=0.012)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{traced.envoy.settings.envoy.port}") as channel:
        answers = await guide(
            ThrottlingServiceStub(channel), start(game), unit, metadata=(("traceparent", header),)
        )
    assert answers[-1].done and abs(unit.remaining) <= 1.0
    found = await spans_of(traced, trace_id, {"throttling-envoy", "throttling-sequencer"})
    server = found["throttling-sequencer"]
    assert "/throttling.v1.ThrottlingService/Guide" in server
    assert server.count("sqlite INSERT plans") == 2  # the initial plan, then with its summary
