"""The sidecar's gRPC client: forwards caller identity as metadata, turns statuses into GraphQL errors."""

from __future__ import annotations

import enum
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from graphql import GraphQLError
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from bridge.graphql.settings import GraphQLSettings
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub

#: Picks an RPC of the stub, e.g. `lambda stub: stub.GetPlan`.
Method = Callable[[ThrottlingServiceStub], Any]
Metadata = tuple[tuple[str, str], ...]

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


class Lane(enum.Enum):
    """Which channels a call uses: subscriptions never take the streams queries need."""

    QUERY = "query"
    SUBSCRIPTION = "subscription"


class _Channel:
    __slots__ = ("busy", "channel", "stub")

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.stub = ThrottlingServiceStub(channel)
        self.busy = 0


class Upstream:
    """Pools of grpc.aio channels per lane, created in the app's lifespan (channels belong to one loop).

    A server caps the streams of one connection (64 by default), and a call over the cap waits
    for a free stream. Each channel here is its own connection (a local subchannel pool: grpc
    would otherwise share one connection between channels with equal arguments), and a call
    takes the least busy channel of its lane.
    """

    def __init__(self, settings: GraphQLSettings) -> None:
        self.call_timeout = settings.call_timeout
        credentials = None
        if settings.grpc_ca_file:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=Path(settings.grpc_ca_file).read_bytes()
            )
        counts = {Lane.QUERY: settings.query_channels, Lane.SUBSCRIPTION: settings.subscription_channels}
        self.lanes = {
            lane: [_Channel(_connect(settings.grpc_target, credentials)) for _ in range(count)]
            for lane, count in counts.items()
        }

    @contextmanager
    def stub(self, lane: Lane) -> Iterator[ThrottlingServiceStub]:
        """The stub of the least busy channel of `lane`, counted busy until the block ends."""
        channel = min(self.lanes[lane], key=lambda c: c.busy)
        channel.busy += 1
        try:
            yield channel.stub
        finally:
            channel.busy -= 1

    async def call(self, method: Method, request: Message, metadata: Metadata) -> Any:
        """A unary call on the query lane, within the call timeout."""
        with self.stub(Lane.QUERY) as stub, graphql_errors():
            return await method(stub)(request, metadata=metadata, timeout=self.call_timeout)

    async def stream(self, method: Method, request: Message, metadata: Metadata) -> AsyncIterator[Any]:
        """A server stream on the subscription lane; leaving the iteration cancels it."""
        with self.stub(Lane.SUBSCRIPTION) as stub:
            call = method(stub)(request, metadata=metadata)
            try:
                with graphql_errors():
                    async for message in call:
                        yield message
            finally:
                call.cancel()

    async def close(self) -> None:
        for channels in self.lanes.values():
            for channel in channels:
                await channel.channel.close(grace=None)


async def unary(context: Mapping[str, Any], method: Method, request: Message) -> Any:
    """A resolver's unary call: `method` picks the stub's RPC (`lambda stub: stub.GetPlan`); the
    caller's identity goes upstream as metadata."""
    upstream: Upstream = context["upstream"]
    return await upstream.call(method, request, metadata_from(context))


@contextmanager
def graphql_errors() -> Iterator[None]:
    """gRPC errors raised inside become GraphQL errors with a code (see CODES)."""
    try:
        yield
    except grpc.aio.AioRpcError as error:
        raise graphql_error(error) from None


def _connect(target: str, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    # The trace context of the GraphQL request goes upstream as gRPC metadata (traceparent).
    interceptors = aio_client_interceptors()
    options = [("grpc.use_local_subchannel_pool", 1)]
    if credentials is not None:
        return grpc.aio.secure_channel(target, credentials, options=options, interceptors=interceptors)
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)


def metadata_from(context: Mapping[str, Any]) -> Metadata:
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


def ensure_code(error: GraphQLError) -> None:
    """Give an error nobody mapped its `extensions.code` (call after it is logged): a document
    that does not parse or validate, variables that do not fit their types, or an unexpected
    fault, whose message (Python's own words) is replaced."""
    extensions = dict(error.extensions or {})
    if "code" in extensions:
        return
    if error.path is None:  # refused before any field ran
        if error.message.startswith("Syntax Error"):
            code = "GRAPHQL_PARSE_FAILED"
        elif error.message.startswith("Variable '$"):
            code = "BAD_USER_INPUT"
        else:
            code = "GRAPHQL_VALIDATION_FAILED"
    else:
        code = "INTERNAL_SERVER_ERROR"
        error.message = "internal error in the GraphQL sidecar (its log has the details)"
    error.extensions = {**extensions, "code": code}


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
