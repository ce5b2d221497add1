"""The request boundary's one line per RPC says how the call ended for its caller."""

from __future__ import annotations

from typing import Any, cast

import pytest

from throttling_sequencer.adapters.grpc.interceptors import _Call

METHOD = "/throttling.v1.ThrottlingService/CreatePlan"


class Context:
    """Stands in for grpc.aio's servicer context: only the time left is asked for."""

    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining

    def time_remaining(self) -> float | None:
        return self.remaining


@pytest.mark.parametrize(
    ("remaining", "status"),
    [(-0.001, "DEADLINE_EXCEEDED"), (60.0, "OK"), (None, "OK")],
    ids=["finished past its deadline", "in time", "no deadline"],
)
def test_a_call_that_finished_past_its_deadline_is_logged_as_its_caller_saw_it(
    remaining: float | None, status: str, log_records: list[Any]
) -> None:
    """The handler may finish before grpc cancels it at the deadline (the loop was busy): the
    caller got DEADLINE_EXCEEDED, and the line must not say OK."""
    _Call(METHOD, (), cast(Any, Context(remaining))).end()
    [line] = [r["extra"] for r in log_records if r["message"] == "rpc"]
    assert line["status"] == status
