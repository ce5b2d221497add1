"""Who the current request is, for logs and stored plans: set once per RPC at the edge."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class RequestIdentity:
    request_id: str = ""
    user_id: str = ANONYMOUS


# RequestIdentity is frozen, so one shared default is safe.
current: ContextVar[RequestIdentity] = ContextVar(
    "throttling_request",
    default=RequestIdentity(),  # noqa: B039
)
