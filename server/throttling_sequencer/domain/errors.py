"""The domain's exceptions: each carries a human `detail` and machine-readable `context`.

The gRPC edge maps them to status codes in one place (adapters/grpc/errors.py), where the
transport's own errors (authentication, stream length) are declared too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid field: its path in the request (e.g. "game_state.player_units[0].mass") and why."""

    field: str
    description: str


class ThrottlingError(Exception):
    """Base of every error the service reports on purpose."""

    def __init__(self, detail: str, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.context = context


class InvalidInput(ThrottlingError):
    """The request breaks a rule; `violations` names every offending field."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        # A field broken twice is named once (each violation still says what is wrong with it).
        fields = list(dict.fromkeys(v.field for v in violations))
        # The request as a whole (no field to name): say what is wrong instead.
        named = ", ".join(fields) if any(fields) else "; ".join(v.description for v in violations)
        super().__init__(f"invalid request: {named}", fields=fields)
        self.violations = tuple(violations)


class PlanNotFound(ThrottlingError):
    def __init__(self, plan_id: str) -> None:
        super().__init__(f"no plan with id {plan_id!r}", plan_id=plan_id)


class DeadlineTooShort(ThrottlingError):
    """Too little time was left to plan anything before the caller's deadline."""

    def __init__(self, remaining_seconds: float) -> None:
        super().__init__(
            f"the deadline leaves {max(0.0, remaining_seconds) * 1000:.1f} ms, too little to plan",
            remaining_seconds=remaining_seconds,
        )


class SessionOutOfOrder(ThrottlingError):
    """A message arrived that the session's protocol does not allow at this point: an
    observation before the start, a second start, or a tick other than the one answered last."""


class StorageUnavailable(ThrottlingError):
    """The plan store could not be reached; the request may be retried."""


class StorageRejected(ThrottlingError):
    """The plan store refused this data for good (a data, constraint or encoding error): retrying
    the same write cannot succeed, unlike StorageUnavailable."""


class BacklogFull(ThrottlingError):
    """Too many answered plans wait for the database: new ones are refused until it catches up."""

    def __init__(self, waiting: int, limit: str) -> None:
        super().__init__(
            f"the plan store is behind: {waiting} answered plans wait to be stored ({limit}); retry later",
            waiting=waiting,
        )


class UnitFailed(ThrottlingError):
    """Planning one unit of a batch failed unexpectedly (a fault of ours, logged with the request
    id): that unit's result says so, and the batch's other units are still answered."""

    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"internal error planning this unit; quote request id {request_id} when reporting it",
            request_id=request_id,
        )
