"""The caller of one RPC, handed from the request boundary to the servicer.

The RequestBoundary interceptor (interceptors.py) authenticates the caller, builds its
CallContext (request id, user id, administrator or not, deadline) and calls the servicer with a
CallerContext: the RPC's gRPC context with that CallContext attached. The servicer reads it with
`caller(context)`. Served without the interceptor, there is no caller to act for: every RPC fails
with MissingRequestBoundary (an INTERNAL status and an error log line) rather than serving
everyone as one anonymous user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from throttling_sequencer.service.planning import CallContext

if TYPE_CHECKING:
    import grpc

    Context = grpc.aio.ServicerContext[Any, Any]


class MissingRequestBoundary(RuntimeError):
    """The servicer was reached without the RequestBoundary interceptor in front of it."""


class CallerContext:
    """A gRPC servicer context that also carries the RPC's CallContext (`call`)."""

    __slots__ = ("_context", "call")

    def __init__(self, context: Context, call: CallContext) -> None:
        self._context = context
        self.call = call

    def __getattr__(self, name: str) -> Any:
        """Everything else is the gRPC context's (time_remaining, peer, abort, ...)."""
        return getattr(self._context, name)


def caller(context: object) -> CallContext:
    """The CallContext the request boundary established for this RPC."""
    if isinstance(context, CallerContext):
        return context.call
    raise MissingRequestBoundary(
        "the servicer was called without the RequestBoundary interceptor "
        "(adapters/grpc/interceptors.py): nobody established who is calling"
    )
