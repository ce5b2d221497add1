"""The one place where errors become gRPC statuses with google.rpc error details: the domain's,
and the transport's own (declared here, at the edge, since only the edge raises them)."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from throttling_sequencer.domain import errors

DOMAIN = "throttling.v1"


class Unauthenticated(errors.ThrottlingError):
    """The caller did not prove who it is: no token, or a token that fails a check."""


class StreamTooLong(errors.ThrottlingError):
    """A stream would outlast the longest a stream may run (pace it faster, or plan fewer ticks)."""

    def __init__(self, max_seconds: float, **context: Any) -> None:
        super().__init__(
            f"the stream would run longer than {max_seconds:g} s", max_seconds=max_seconds, **context
        )


class SessionIdle(errors.ThrottlingError):
    """A guidance session waited longer than allowed for the caller's next message."""

    def __init__(self, idle_seconds: float, **context: Any) -> None:
        super().__init__(
            f"no message for {idle_seconds:g} s: the session ended", idle_seconds=idle_seconds, **context
        )


#: A call that ends this close to its deadline ended because of it: the caller's clock runs ahead
#: of ours by the request's transit, so its cancel arrives before our deadline passes.
DEADLINE_SLACK_SECONDS = 0.1


def deadline_passed(time_remaining: float | None) -> bool:
    """Whether a call with this much time left (grpc's `time_remaining()`) met its deadline."""
    return time_remaining is not None and time_remaining <= DEADLINE_SLACK_SECONDS


class DeadlinePassed(errors.ThrottlingError):
    """The caller's deadline passed while a stream was open."""

    def __init__(self, **context: Any) -> None:
        super().__init__("the caller's deadline passed", **context)


_CODES: list[tuple[type[errors.ThrottlingError], grpc.StatusCode, str]] = [
    (errors.InvalidInput, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT"),
    (errors.PlanNotFound, grpc.StatusCode.NOT_FOUND, "PLAN_NOT_FOUND"),
    (errors.DeadlineTooShort, grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_TOO_SHORT"),
    (StreamTooLong, grpc.StatusCode.DEADLINE_EXCEEDED, "STREAM_TOO_LONG"),
    (SessionIdle, grpc.StatusCode.DEADLINE_EXCEEDED, "SESSION_IDLE"),
    (DeadlinePassed, grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_PASSED"),
    (errors.SessionOutOfOrder, grpc.StatusCode.FAILED_PRECONDITION, "SESSION_OUT_OF_ORDER"),
    (errors.StorageUnavailable, grpc.StatusCode.UNAVAILABLE, "STORAGE_UNAVAILABLE"),
    (errors.StorageRejected, grpc.StatusCode.INVALID_ARGUMENT, "STORAGE_REJECTED"),
    (errors.BacklogFull, grpc.StatusCode.RESOURCE_EXHAUSTED, "BACKLOG_FULL"),
    (errors.UnitFailed, grpc.StatusCode.INTERNAL, "INTERNAL"),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
]


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def _metadata(value: object) -> str:
    """ErrorInfo metadata is strings: a list reads as its items joined by commas, not Python's repr."""
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(item) for item in value)
    return str(value)


def to_status(error: errors.ThrottlingError) -> grpc.Status:
    """A status carrying ErrorInfo (reason + context) and, for invalid input, BadRequest."""
    return rpc_status.to_status(status_message(error))


def status_message(error: errors.ThrottlingError) -> status_pb2.Status:
    """The google.rpc.Status of an error: what `to_status` sends, and what a batch result holds."""
    code, reason = grpc.StatusCode.INTERNAL, "INTERNAL"
    for kind, kind_code, kind_reason in _CODES:
        if isinstance(error, kind):
            code, reason = kind_code, kind_reason
            break
    details = [
        _pack(
            error_details_pb2.ErrorInfo(
                reason=reason, domain=DOMAIN, metadata={k: _metadata(v) for k, v in error.context.items()}
            )
        )
    ]
    if isinstance(error, errors.InvalidInput):
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                        for v in error.violations
                    ]
                )
            )
        )
    if isinstance(error, errors.PlanNotFound):
        details.append(
            _pack(
                error_details_pb2.ResourceInfo(
                    resource_type=f"{DOMAIN}.Plan",
                    resource_name=str(error.context.get("plan_id", "")),
                    description=error.detail,
                )
            )
        )
    return status_pb2.Status(code=code.value[0], message=error.detail, details=details)


def internal_status(request_id: str) -> grpc.Status:
    """For unexpected failures: no internals leak, the request id lets operators find the log."""
    message = status_pb2.Status(
        code=code_pb2.INTERNAL, message=f"internal error; quote request id {request_id} when reporting it"
    )
    return rpc_status.to_status(message)
