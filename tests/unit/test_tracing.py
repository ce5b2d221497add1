"""The process's tracing draws its ids from a generator of its own."""

from __future__ import annotations

import random

from throttling_sequencer import tracing


def test_trace_and_span_ids_leave_the_global_random_alone() -> None:
    """OpenTelemetry's default id generator draws from the global `random`: every call moved the
    state that a program seeded (and Hypothesis, fuzzing beside an in-process server, flagged it)."""
    provider = tracing.tracer_provider("none")
    random.seed(12)
    before = random.getstate()
    with provider.get_tracer(__name__).start_as_current_span("call") as span:
        context = span.get_span_context()
    assert random.getstate() == before
    assert context.trace_id and context.span_id
