"""The ASGI app: Strawberry mounted in Starlette, whose lifespan owns the gRPC channel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from bridge.graphql.schema import schema
from bridge.graphql.settings import GraphQLSettings
from bridge.graphql.upstream import Upstream


class _GraphQL(GraphQL[dict[str, Any], None]):
    """Puts the upstream client in every resolver's context."""

    def __init__(self, settings: GraphQLSettings) -> None:
        super().__init__(
            schema,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL],
            graphql_ide="graphiql",
        )
        self.settings = settings
        self.upstream: Upstream | None = None

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> dict[str, Any]:
        return {"request": request, "response": response, "upstream": self.upstream}


def create_app(settings: GraphQLSettings | None = None) -> Starlette:
    settings = settings or GraphQLSettings.from_env()
    graphql = _GraphQL(settings)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # grpc.aio channels belong to the event loop that creates them: make it here.
        graphql.upstream = Upstream(settings.grpc_target, settings.call_timeout)
        try:
            yield
        finally:
            await graphql.upstream.close()

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", health),
        ],
        lifespan=lifespan,
    )
