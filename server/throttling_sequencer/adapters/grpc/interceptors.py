"""The request boundary: every RPC gets a caller (handed to the servicer explicitly), one log
line, and errors mapped to statuses."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import grpc
from loguru import logger

from throttling_sequencer import logs, metrics, request_context
from throttling_sequencer.adapters.grpc import errors as status_mapping
from throttling_sequencer.adapters.grpc.auth import Authenticator
from throttling_sequencer.adapters.grpc.caller import CallerContext
from throttling_sequencer.domain.errors import FieldViolation, InvalidInput, ThrottlingError
from throttling_sequencer.service.planning import CallContext

REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID_LENGTH = 128
#: Health checks and reflection are left alone: Envoy probes health every second.
QUIET_PREFIXES = ("/grpc.health.", "/grpc.reflection.")

if TYPE_CHECKING:  # generic only in the type stubs
    Context = grpc.aio.ServicerContext[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]
    #: The servicer's methods, as the boundary calls them.
    UnaryBehavior = Callable[[Any, CallerContext], Awaitable[Any]]
    StreamBehavior = Callable[[Any, CallerContext], AsyncIterator[Any]]
    BidiBehavior = Callable[[AsyncIterator[Any], CallerContext], AsyncIterator[Any]]
    #: What grpc calls: the boundary's wrappers.
    UnaryHandler = Callable[[AsyncIterator[Any], Context], Awaitable[Any]]
    StreamHandler = Callable[[AsyncIterator[Any], Context], AsyncIterator[Any]]
    BidiHandler = Callable[[AsyncIterator[Any], Context], AsyncIterator[Any]]


def _header(metadata: tuple[tuple[str, str | bytes], ...] | None, name: str) -> str | None:
    for key, value in metadata or ():
        if key == name and isinstance(value, str):
            return value
    return None


def _request_id(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_HEADER and isinstance(value, str) and 0 < len(value) <= MAX_REQUEST_ID_LENGTH:
            return value
    return uuid.uuid4().hex


class _Call:
    """Book-keeping for one RPC: its caller in, one log line out."""

    def __init__(self, method: str, metadata: Any, context: Context) -> None:
        self.method = method
        remaining = context.time_remaining()
        self.caller = CallContext(
            request_id=_request_id(metadata),
            user_id=request_context.ANONYMOUS,
            deadline=None if remaining is None else time.monotonic() + remaining,
        )
        self.started = time.perf_counter()
        self.status = "OK"

    async def begin(self, context: Context) -> None:
        self.identify(self.caller)
        await context.send_initial_metadata(((REQUEST_ID_HEADER, self.caller.request_id),))

    def identify(self, caller: CallContext) -> None:
        """The caller from here on; log lines name it too."""
        self.caller = caller
        request_context.current.set(caller)

    async def fail(self, context: Context, error: BaseException) -> None:
        """Abort the RPC with the mapped status (raises grpc's AbortError)."""
        if isinstance(error, ThrottlingError):
            status = status_mapping.to_status(error)
            self.status = status.code.name
            logger.info("rejected: {}", error.detail, **error.context)
        else:
            status = status_mapping.internal_status(self.caller.request_id)
            self.status = status.code.name
            logger.opt(exception=error).error("unexpected error")
        await context.abort(status.code, status.details, status.trailing_metadata)

    def end(self) -> None:
        seconds = time.perf_counter() - self.started
        deadline = self.caller.deadline
        if self.status == "OK" and deadline is not None and time.monotonic() > deadline:
            # Answered too late: the caller already saw DEADLINE_EXCEEDED, so the log and the
            # metrics say that too (its plans, if any, were stored all the same).
            self.status = "DEADLINE_EXCEEDED"
        metrics.observe_rpc(self.method, self.status, seconds)
        if logs.enabled():
            logger.info("rpc", method=self.method, status=self.status, duration_ms=round(seconds * 1000, 3))


class RequestBoundary(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Every RPC but health and reflection: its caller (authenticated when an Authenticator is
    given) handed to the servicer in a CallerContext, errors mapped to statuses, one log line."""

    def __init__(self, authenticator: Authenticator | None = None) -> None:
        self._authenticator = authenticator

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler: Any = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith(QUIET_PREFIXES):
            return handler  # type: ignore[no-any-return]
        metadata = details.invocation_metadata
        # A unary request is served as a client stream (the same frames on the wire): grpc's own
        # unary path never answers a call that ends without its message, which then hangs until
        # the client gives up; read here, that is INVALID_ARGUMENT at once.
        if handler.unary_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method, metadata, self._authenticator),
                request_deserializer=_lenient(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream(handler.unary_stream, method, metadata, self._authenticator),
                request_deserializer=_lenient(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._bidirectional(handler.stream_stream, method, metadata, self._authenticator),
                request_deserializer=_lenient(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        return handler  # type: ignore[no-any-return]

    @staticmethod
    def _unary(
        behavior: UnaryBehavior, method: str, metadata: Any, authenticator: Authenticator | None
    ) -> UnaryHandler:
        async def wrapper(requests: AsyncIterator[Any], context: Context) -> Any:
            async with _boundary(method, metadata, context, authenticator) as caller:
                request = await _the_request(requests)
                return await behavior(request, CallerContext(context, caller))

        return wrapper

    @staticmethod
    def _stream(
        behavior: StreamBehavior, method: str, metadata: Any, authenticator: Authenticator | None
    ) -> StreamHandler:
        async def wrapper(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
            async with _boundary(method, metadata, context, authenticator) as caller:
                request = await _the_request(requests)
                async for message in behavior(request, CallerContext(context, caller)):
                    yield message

        return wrapper

    @staticmethod
    def _bidirectional(
        behavior: BidiBehavior, method: str, metadata: Any, authenticator: Authenticator | None
    ) -> BidiHandler:
        async def wrapper(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
            async with _boundary(method, metadata, context, authenticator) as caller:
                async for message in behavior(_decoded(requests), CallerContext(context, caller)):
                    yield message

        return wrapper


@dataclass(frozen=True, slots=True)
class _Undecodable:
    """Stands in for a request whose bytes are not the method's message."""

    error: str


def _lenient(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """grpc answers INTERNAL when deserialising fails; we want INVALID_ARGUMENT, so defer it."""

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as error:  # protobuf's DecodeError, or anything a parser raises
            return _Undecodable(str(error) or type(error).__name__)

    return parse


async def _the_request(requests: AsyncIterator[Any]) -> Any:
    """A unary call's message: the first the client sent (grpc's clients send exactly one); a call
    that ended without one, or whose bytes are not the method's message, is INVALID_ARGUMENT."""
    async for request in requests:
        _reject_undecodable(request)
        return request
    raise InvalidInput([FieldViolation("", "the call ended without its request message")])


def _reject_undecodable(request: Any) -> None:
    if isinstance(request, _Undecodable):
        raise InvalidInput([FieldViolation("", f"the request is not a valid message: {request.error}")])


async def _decoded(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """A client stream's messages; one that is not the method's message ends it with INVALID_ARGUMENT."""
    async for request in requests:
        _reject_undecodable(request)
        yield request


@asynccontextmanager
async def _boundary(
    method: str, metadata: Any, context: Context, authenticator: Authenticator | None
) -> AsyncIterator[CallContext]:
    """Around one RPC: its caller in, errors mapped to statuses, one log line out."""
    call = _Call(method, metadata, context)
    await call.begin(context)
    try:
        if authenticator is not None:
            found = await authenticator.authenticate(_header(metadata, "authorization"))
            call.identify(replace(call.caller, user_id=found.user_id, admin=found.admin))
        yield call.caller
    except grpc.aio.AbortError:
        raise
    except (asyncio.CancelledError, GeneratorExit):
        # The client cancelled or went away (grpc.aio closes a stream's generator), or its
        # deadline passed (grpc cancels the call then too).
        passed = status_mapping.deadline_passed(context.time_remaining())
        call.status = "DEADLINE_EXCEEDED" if passed else "CANCELLED"
        raise
    except Exception as error:
        await call.fail(context, error)
    finally:
        call.end()
