"""Who the current request is, for logs, stored plans and which plans it may read: set once per
RPC at the edge."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

ANONYMOUS = "anonymous"
#: Longest user id accepted: what the plans' user_id column holds (adapters/storage/models.py).
MAX_USER_ID_LENGTH = 256


@dataclass(frozen=True, slots=True)
class RequestIdentity:
    request_id: str = ""
    user_id: str = ANONYMOUS
    #: Holds the administrator role: may read every user's plans.
    admin: bool = False


# RequestIdentity is frozen, so one shared default is safe.
current: ContextVar[RequestIdentity] = ContextVar(
    "throttling_request",
    default=RequestIdentity(),  # noqa: B039
)
