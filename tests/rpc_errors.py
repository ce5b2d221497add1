"""Reading google.rpc error details off a failed gRPC call, as a client would."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2


def rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    metadata: Any = error.trailing_metadata() or ()
    for key, value in metadata:
        if key == "grpc-status-details-bin":
            assert isinstance(value, bytes)
            return status_pb2.Status.FromString(value)
    raise AssertionError(f"no rich status on {error.code()}: {error.details()}")


def field_violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    return status_violations(rich_status(error))


def status_violations(status: status_pb2.Status) -> dict[str, str]:
    """The BadRequest field violations of a google.rpc.Status (a call's, or a batch result's)."""
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            return {v.field: v.description for v in bad_request.field_violations}
    raise AssertionError("no BadRequest detail")


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    for detail in rich_status(error).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError("no ErrorInfo detail")
