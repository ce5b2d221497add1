"""The ASGI app: Strawberry mounted in Starlette, whose lifespan owns the gRPC channels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from bridge.graphql.clients import TrustedProxies
from bridge.graphql.schema import schema
from bridge.graphql.settings import GraphQLSettings
from bridge.graphql.subscriptions import Connection, SubscriptionLimits
from bridge.graphql.upstream import Upstream
from throttling_sequencer import tracing


class _GraphQL(GraphQL[dict[str, Any], None]):
    """Puts the upstream client, the caller's address and the limits in every resolver's context."""

    def __init__(self, settings: GraphQLSettings) -> None:
        super().__init__(
            schema,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL],
            graphql_ide="graphiql",
        )
        self.settings = settings
        self.upstream: Upstream | None = None
        self.subscriptions = SubscriptionLimits(settings)
        self.proxies = TrustedProxies(settings.trusted_proxies)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> dict[str, Any]:
        # Called once per HTTP request, and once per WebSocket connection for all its operations.
        peer = request.client.host if request.client else None
        return {
            "request": request,
            "response": response,
            "upstream": self.upstream,
            "subscriptions": self.subscriptions,
            "connection": Connection(),
            "client": self.proxies.client(peer, request.headers),
        }


#: Largest GraphQL request body accepted (a 1,000-unit game state is about 100 KB as GraphQL).
MAX_BODY_BYTES = 256 * 1024


class BodyLimit:
    """Refuses request bodies over MAX_BODY_BYTES with a JSON 413 before anything parses them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"0")
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                error = {
                    "message": f"request body over {MAX_BODY_BYTES} bytes",
                    "extensions": {"code": "PAYLOAD_TOO_LARGE"},
                }
                reply = JSONResponse({"errors": [error]}, status_code=413)
                await reply(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: GraphQLSettings | None = None) -> Starlette:
    settings = settings or GraphQLSettings.from_env()
    graphql = _GraphQL(settings)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # grpc.aio channels belong to the event loop that creates them: make it here.
        graphql.upstream = Upstream(settings)
        try:
            yield
        finally:
            await graphql.upstream.close()

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "subscriptions": graphql.subscriptions.open})

    tracing.configure(settings.otel_exporter, service_name="throttling-graphql")
    return Starlette(
        # The trace context Envoy (or the caller) sent is continued here.
        middleware=[Middleware(OpenTelemetryMiddleware), Middleware(BodyLimit)],
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", health),
        ],
        lifespan=lifespan,
    )
