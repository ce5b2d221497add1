"""Opaque page tokens for newest-first listings (keyset pagination on created_at, plan_id).

A token comes back from the caller, so decoding trusts nothing: a bounded length (which also
bounds JSON nesting far below the parser's recursion limit), exactly the two string fields we
write, and a timezone-aware timestamp (stored plans carry UTC times; a naive one cannot be
compared with them). Anything else is INVALID_ARGUMENT on `page_token`.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from throttling_sequencer.domain.errors import FieldViolation, InvalidInput
from throttling_sequencer.domain.model import Plan
from throttling_sequencer.domain.ports import PageCursor

#: Tokens we write are about 120 characters.
MAX_TOKEN_LENGTH = 256
NOT_A_TOKEN = "is not a token from a previous ListPlans response"


def encode(plan: Plan) -> str:
    raw = json.dumps({"t": plan.created_at.isoformat(), "id": str(plan.plan_id)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> PageCursor | None:
    if not token:
        return None
    if len(token) > MAX_TOKEN_LENGTH:
        raise _invalid(f"{NOT_A_TOKEN} (longer than {MAX_TOKEN_LENGTH} characters)")
    try:
        # binascii.Error, UnicodeDecodeError and JSONDecodeError are all ValueErrors.
        data: Any = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        raise _invalid(NOT_A_TOKEN) from None
    if not (
        isinstance(data, dict)
        and data.keys() == {"t", "id"}
        and all(isinstance(v, str) for v in data.values())
    ):
        raise _invalid(NOT_A_TOKEN)
    try:
        created_at, plan_id = datetime.fromisoformat(data["t"]), UUID(data["id"])
    except ValueError:
        raise _invalid(NOT_A_TOKEN) from None
    if created_at.utcoffset() is None:
        raise _invalid(f"{NOT_A_TOKEN} (its timestamp has no time zone)")
    try:
        return PageCursor(created_at=created_at.astimezone(UTC), plan_id=plan_id)
    except OverflowError:  # e.g. year 1 at +05:00 is before the first UTC instant
        raise _invalid(f"{NOT_A_TOKEN} (its timestamp is out of range)") from None


def _invalid(description: str) -> InvalidInput:
    return InvalidInput([FieldViolation("page_token", description)])
