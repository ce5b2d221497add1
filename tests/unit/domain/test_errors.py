"""The domain's errors say what is wrong in words a caller can act on."""

from __future__ import annotations

from throttling_sequencer.domain.errors import FieldViolation, InvalidInput


def test_a_field_broken_twice_is_named_once_and_keeps_both_reasons() -> None:
    error = InvalidInput(
        [
            FieldViolation("game_state.player_units", "at most 1000 units"),
            FieldViolation("game_state.player_units", "at most 1000 units to plan in one batch"),
            FieldViolation("options.max_ticks", "must be between 1 and 1000"),
        ]
    )
    assert error.detail == "invalid request: game_state.player_units, options.max_ticks"
    assert error.context["fields"] == ["game_state.player_units", "options.max_ticks"]
    assert len(error.violations) == 3


def test_a_request_wrong_as_a_whole_says_what_is_wrong() -> None:
    """No field to name (an empty field path): the message says why, and never ends in a blank
    (gRPC's grpc-message header may not, and strict HTTP/2 clients drop such an answer)."""
    error = InvalidInput([FieldViolation("", "the call ended without its request message")])
    assert error.detail == "invalid request: the call ended without its request message"
