"""Opaque page tokens for newest-first listings (keyset pagination on created_at, plan_id)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from uuid import UUID

from throttling_sequencer.domain.errors import FieldViolation, InvalidInput
from throttling_sequencer.domain.model import Plan
from throttling_sequencer.domain.ports import PageCursor


def encode(plan: Plan) -> str:
    raw = json.dumps({"t": plan.created_at.isoformat(), "id": str(plan.plan_id)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> PageCursor | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        return PageCursor(created_at=datetime.fromisoformat(data["t"]), plan_id=UUID(data["id"]))
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidInput(
            [FieldViolation("page_token", "is not a token from a previous ListPlans response")]
        ) from None
