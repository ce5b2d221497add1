"""The sidecar's gRPC client: forwards caller identity as metadata, turns statuses into GraphQL errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from graphql import GraphQLError
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub

#: gRPC status -> GraphQL `extensions.code` (Apollo's conventional names where they exist).
CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: "BAD_USER_INPUT",
    grpc.StatusCode.NOT_FOUND: "NOT_FOUND",
    grpc.StatusCode.UNAUTHENTICATED: "UNAUTHENTICATED",
    grpc.StatusCode.PERMISSION_DENIED: "FORBIDDEN",
    grpc.StatusCode.DEADLINE_EXCEEDED: "DEADLINE_EXCEEDED",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "RATE_LIMITED",
    grpc.StatusCode.UNAVAILABLE: "SERVICE_UNAVAILABLE",
    grpc.StatusCode.CANCELLED: "CANCELLED",
}
FORWARDED_HEADERS = ("authorization", "x-request-id")


class Upstream:
    """One grpc.aio channel, created in the app's lifespan (channels belong to one event loop)."""

    def __init__(self, target: str, call_timeout: float, ca_file: str = "") -> None:
        # The trace context of the GraphQL request goes upstream as gRPC metadata (traceparent).
        interceptors = aio_client_interceptors()
        if ca_file:
            credentials = grpc.ssl_channel_credentials(root_certificates=Path(ca_file).read_bytes())
            self.channel = grpc.aio.secure_channel(target, credentials, interceptors=interceptors)
        else:
            self.channel = grpc.aio.insecure_channel(target, interceptors=interceptors)
        self.stub = ThrottlingServiceStub(self.channel)
        self.call_timeout = call_timeout

    async def close(self) -> None:
        await self.channel.close(grace=None)


def metadata_from(context: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Authorization and request id from the HTTP request, the WebSocket upgrade, or connection params."""
    found: dict[str, str] = {}
    request = context.get("request")
    if request is not None:
        for name in FORWARDED_HEADERS:
            value = request.headers.get(name)
            if value:
                found[name] = value
    params = context.get("connection_params")
    if isinstance(params, Mapping):
        for key, value in params.items():
            name = str(key).lower()
            if name in FORWARDED_HEADERS and isinstance(value, str) and value:
                found[name] = value
    return tuple(found.items())


def graphql_error(error: grpc.aio.AioRpcError) -> GraphQLError:
    code = error.code()
    extensions: dict[str, Any] = {"code": CODES.get(code, "INTERNAL_SERVER_ERROR"), "grpcStatus": code.name}
    violations = _field_violations(error)
    if violations:
        extensions["fieldViolations"] = violations
    return GraphQLError(error.details() or code.name, extensions=extensions)


def _field_violations(error: grpc.aio.AioRpcError) -> list[dict[str, str]]:
    metadata: Any = error.trailing_metadata() or ()
    for key, value in metadata:
        if key != "grpc-status-details-bin":
            continue
        for detail in status_pb2.Status.FromString(value).details:
            bad_request = error_details_pb2.BadRequest()
            if detail.Unpack(bad_request):
                return [
                    {"field": graphql_path(v.field), "description": v.description}
                    for v in bad_request.field_violations
                ]
    return []


def graphql_path(field: str) -> str:
    """`game_state.player_units[0].mass` -> `gameStateInput.playerUnits[0].mass` (argument names)."""
    if field == "game_state" or field.startswith("game_state."):
        field = "game_state_input" + field[len("game_state") :]
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), field)


async def stream(call: Any) -> AsyncIterator[Any]:
    """Iterate a server stream; errors become GraphQL errors; leaving early cancels the call."""
    try:
        async for message in call:
            yield message
    except grpc.aio.AioRpcError as error:
        raise graphql_error(error) from None
    finally:
        call.cancel()
