"""Who the current request is, for log lines only: set once per RPC at the edge.

Authorization never reads this: the RequestBoundary interceptor hands the servicer its caller
explicitly (adapters/grpc/caller.py), so a servicer served without it fails instead of treating
everyone as the default caller below.
"""

from __future__ import annotations

from contextvars import ContextVar

from throttling_sequencer.service.planning import CallContext

ANONYMOUS = "anonymous"
#: Longest user id accepted: what the plans' user_id column holds (adapters/storage/models.py).
MAX_USER_ID_LENGTH = 256

# CallContext is frozen, so one shared default is safe.
current: ContextVar[CallContext] = ContextVar(
    "throttling_request",
    default=CallContext(request_id="", user_id=ANONYMOUS),  # noqa: B039
)
