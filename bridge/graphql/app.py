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
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from bridge.graphql.clients import TrustedProxies
from bridge.graphql.schema import schema
from bridge.graphql.settings import GraphQLSettings
from bridge.graphql.subscriptions import Connection, SubscriptionLimits
from bridge.graphql.upstream import Upstream
from bridge.settings import BridgeSettings
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
            "settings": self.settings,
            "subscriptions": self.subscriptions,
            "connection": Connection(),
            "client": self.proxies.client(peer, request.headers),
            "websocket": isinstance(request, WebSocket),
        }


class BodyLimit:
    """Refuses request bodies over the limit with a JSON 413 before anything parses them.

    The bytes are counted as they arrive, so a chunked body (no Content-Length) is bounded too;
    a body within the limit is passed on whole.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self.refuse(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self.refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = {
            "message": f"request body over {self.max_bytes} bytes",
            "extensions": {"code": "PAYLOAD_TOO_LARGE"},
        }
        await JSONResponse({"errors": [error]}, status_code=413)(scope, receive, send)


def create_app(stack: BridgeSettings) -> Starlette:
    settings = stack.sidecar
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

    tracing.configure(stack.otel_exporter, service_name="throttling-graphql")
    return Starlette(
        # The trace context Envoy (or the caller) sent is continued here.
        middleware=[
            Middleware(OpenTelemetryMiddleware),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
        ],
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", health),
        ],
        lifespan=lifespan,
    )
