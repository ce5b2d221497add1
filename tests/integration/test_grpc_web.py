"""gRPC-Web and CORS on the front door: browsers reach every unary and server-streaming RPC
through Envoy's grpc_web filter, and Envoy itself answers cross-origin preflights for the
configured origins (THROTTLING_CORS_ORIGINS) on gRPC-Web, REST and /graphql."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from bridge.envoy.config import CORS_EXPOSE_HEADERS, NOT_BASE64
from tests import grpc_web
from tests.conftest import EnvoyProcess, envoy_process
from tests.support import game_state_pb
from throttling.v1 import planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling_sequencer.app import Application

SERVICE = pb.DESCRIPTOR.services_by_name["ThrottlingService"]
QUICK = planning_pb2.PlannerOptions(strategy=planning_pb2.STRATEGY_RANDOM, seed=3, time_budget_ms=100)
#: A page on the developer's machine (the default THROTTLING_CORS_ORIGINS allow it) and one not.
LOCAL_PAGE = "http://localhost:5173"
OTHER_SITE = "https://evil.example"
#: (path, a request method a browser would preflight for it).
CROSS_ORIGIN_CALLS = [
    (f"/{SERVICE.full_name}/CreatePlan", "POST"),
    ("/api/v1/plans", "POST"),
    ("/api/v1/status", "GET"),
    ("/graphql", "POST"),
]
UPSTREAM_REQUESTS = ("cluster.grpc_server.upstream_rq_total", "cluster.graphql.upstream_rq_total")


@pytest.fixture
async def web(envoy: EnvoyProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=envoy.url, timeout=60.0) as client:
        yield client


def requests(plan_id: str) -> dict[str, Message]:
    """A valid request for each RPC this test knows; others get their empty request."""
    return {
        "CalculateThrottleSteps": pb.CalculateThrottleStepsRequest(game_state=game_state_pb(), options=QUICK),
        "CreatePlan": pb.CreatePlanRequest(game_state=game_state_pb(), options=QUICK),
        "StreamThrottleSteps": pb.StreamThrottleStepsRequest(game_state=game_state_pb(), options=QUICK),
        "StreamPlanProgress": pb.StreamPlanProgressRequest(game_state=game_state_pb(), options=QUICK),
        "GetStatus": pb.GetStatusRequest(),
        "GetPlan": pb.GetPlanRequest(plan_id=plan_id),
        "ListPlans": pb.ListPlansRequest(page_size=2),
    }


def message_class(method: MethodDescriptor, output: bool) -> type[Message]:
    return message_factory.GetMessageClass(method.output_type if output else method.input_type)


@pytest.mark.parametrize("content_type", grpc_web.CONTENT_TYPES)
async def test_every_unary_and_server_streaming_rpc_answers_over_grpc_web(
    web: httpx.AsyncClient, content_type: str
) -> None:
    created = await grpc_web.call(web, f"/{SERVICE.full_name}/CreatePlan", requests("")["CreatePlan"])
    assert created.status == 0, created.message
    plan_id = pb.CreatePlanResponse.FromString(created.messages[0]).plan.plan_id
    known = requests(plan_id)
    reached = []
    for method in SERVICE.methods:
        if method.client_streaming:  # gRPC-Web has no client streams
            continue
        request = known.get(method.name, message_class(method, output=False)())
        reply = await grpc_web.call(web, f"/{SERVICE.full_name}/{method.name}", request, content_type)
        assert reply.response.status_code == 200, (method.name, reply.response.text)
        assert reply.response.headers["content-type"].startswith(content_type), method.name
        if method.name not in known:
            # An RPC added after this test: it reached the server, which judged the empty request.
            assert reply.status not in (-1, 12, 14), (method.name, reply.status, reply.message)
            reached.append(method.name)
            continue
        assert reply.status == 0, (method.name, reply.message)
        answers = [message_class(method, output=True).FromString(m) for m in reply.messages]
        assert len(answers) >= (2 if method.server_streaming else 1), method.name
        assert answers[-1].ByteSize() > 0, method.name
        reached.append(method.name)
    assert set(known) <= set(reached)
    # Typed fields arrive intact.
    reply = await grpc_web.call(web, f"/{SERVICE.full_name}/GetPlan", known["GetPlan"], content_type)
    fetched = pb.GetPlanResponse.FromString(reply.messages[0])
    assert fetched.plan.plan_id == plan_id and fetched.plan.options.seed == 3


async def test_an_error_carries_its_details_to_a_page_on_another_origin(web: httpx.AsyncClient) -> None:
    request = pb.CreatePlanRequest(game_state=game_state_pb(mass=-1))
    reply = await grpc_web.call(
        web, f"/{SERVICE.full_name}/CreatePlan", request, headers={"origin": LOCAL_PAGE}
    )
    assert reply.status == 3, reply.message  # INVALID_ARGUMENT, in the trailers-only answer's headers
    assert "game_state.player_units[0].mass" in reply.message
    details = status_pb2.Status.FromString(reply.details).details
    bad_request = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad_request) for detail in details)
    assert [v.field for v in bad_request.field_violations] == ["game_state.player_units[0].mass"]
    # ...and the page's script may read those headers (CORS).
    headers = reply.response.headers
    assert headers["access-control-allow-origin"] == LOCAL_PAGE
    exposed = {name.strip() for name in headers["access-control-expose-headers"].split(",")}
    assert {"grpc-status", "grpc-message", "grpc-status-details-bin"} <= exposed


async def preflight(client: httpx.AsyncClient, path: str, method: str, origin: str) -> httpx.Response:
    return await client.options(
        path,
        headers={
            "origin": origin,
            "access-control-request-method": method,
            "access-control-request-headers": "content-type,x-grpc-web,x-user-agent,authorization",
        },
    )


async def upstream_requests(envoy: EnvoyProcess) -> list[int]:
    return [await envoy.counter(name) for name in UPSTREAM_REQUESTS]


async def test_envoy_answers_preflights_itself(envoy: EnvoyProcess, web: httpx.AsyncClient) -> None:
    before = await upstream_requests(envoy)
    for path, method in CROSS_ORIGIN_CALLS:
        allowed = await preflight(web, path, method, LOCAL_PAGE)
        assert allowed.status_code == 200, (path, allowed.text)
        headers = allowed.headers
        assert headers["access-control-allow-origin"] == LOCAL_PAGE, path
        assert method in headers["access-control-allow-methods"], path
        requested = {"content-type", "x-grpc-web", "x-user-agent", "authorization"}
        assert requested <= {h.strip() for h in headers["access-control-allow-headers"].split(",")}, path
        assert headers["access-control-expose-headers"] == CORS_EXPOSE_HEADERS, path
        assert "x-envoy-upstream-service-time" not in headers, path

        refused = await preflight(web, path, method, OTHER_SITE)
        assert refused.status_code == 200, (path, refused.text)
        assert "access-control-allow-origin" not in refused.headers, path
        assert "x-envoy-upstream-service-time" not in refused.headers, path
    # Neither kind reached the gRPC server or the GraphQL sidecar.
    assert await upstream_requests(envoy) == before


async def test_rest_and_graphql_answers_name_an_allowed_origin_only(web: httpx.AsyncClient) -> None:
    for origin, allowed in ((LOCAL_PAGE, True), ("http://127.0.0.1:3000", True), (OTHER_SITE, False)):
        status = await web.get("/api/v1/status", headers={"origin": origin})
        graphql = await web.post(
            "/graphql", json={"query": "{ plans(first: 1) { nextCursor } }"}, headers={"origin": origin}
        )
        for reply in (status, graphql):
            assert reply.status_code == 200, reply.text
            assert reply.headers.get("access-control-allow-origin") == (origin if allowed else None)


@pytest.fixture(scope="module")
async def configured(
    app: Application, graphql_sidecar: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[EnvoyProcess]:
    """Envoy with THROTTLING_CORS_ORIGINS set: one site and any one-label subdomain of another."""
    assert app.port is not None
    origins = ("https://game.example.com", "https://*.tools.example.com")
    async with envoy_process(
        app.port, graphql_sidecar, Path(tmp_path_factory.mktemp("cors-envoy")), cors_origins=origins
    ) as proxy:
        yield proxy


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://game.example.com", True),
        ("https://editor.tools.example.com", True),
        ("http://game.example.com", False),  # another scheme is another origin
        ("https://game.example.com:8443", False),
        ("https://game.example.com.evil.net", False),  # the whole origin must match
        ("https://evil.net.tools.example.com", False),  # * is one label, never a dot
        ("https://tools.example.com", False),
        (LOCAL_PAGE, False),  # the development default is replaced, not extended
    ],
)
async def test_configured_origins_replace_the_default(
    configured: EnvoyProcess, origin: str, allowed: bool
) -> None:
    async with httpx.AsyncClient(base_url=configured.url) as client:
        reply = await preflight(client, f"/{SERVICE.full_name}/CreatePlan", "POST", origin)
    assert reply.status_code == 200
    assert reply.headers.get("access-control-allow-origin") == (origin if allowed else None)


@pytest.mark.parametrize("content_type", ["application/grpc-web-text", "application/grpc-web-text+proto"])
async def test_a_text_body_that_is_not_base64_is_invalid_argument(
    web: httpx.AsyncClient, content_type: str
) -> None:
    """Bad input, so INVALID_ARGUMENT in a gRPC answer (HTTP 200), never INTERNAL or an HTTP 400."""
    for body in (b"!!!!notbase64", b"AAAAAA"):  # not base64; base64 cut short (not a multiple of 4)
        reply = await web.post(
            f"/{SERVICE.full_name}/GetStatus", content=body, headers={"content-type": content_type}
        )
        assert reply.status_code == 200, (body, reply.status_code, reply.headers)
        assert reply.headers["grpc-status"] == "3", (body, reply.headers)
        assert reply.headers["grpc-message"] == NOT_BASE64
        assert reply.content == b""


@pytest.mark.parametrize("method", ["GetStatus", "StreamThrottleSteps"], ids=["unary", "server-streaming"])
async def test_a_browser_call_without_its_message_is_invalid_argument_at_once(
    web: httpx.AsyncClient, method: str
) -> None:
    """An empty gRPC-Web body (no frame at all) used to hang until Envoy's idle timeout."""
    response = await web.post(
        f"/{SERVICE.full_name}/{method}",
        content=b"",
        headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
    )
    _, trailers = grpc_web.unframe(response.content)
    assert trailers["grpc-status"] == "3", trailers
    assert trailers["grpc-message"] == "invalid request: the call ended without its request message"
