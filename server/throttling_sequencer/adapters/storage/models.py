"""Tortoise ORM tables. Changing them means a new migration: `tortoise makemigrations` (see README)."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class PlanRecord(Model):
    id = fields.UUIDField(primary_key=True)
    request_id = fields.CharField(max_length=128)
    user_id = fields.CharField(max_length=256)
    created_at = fields.DatetimeField()
    strategy = fields.CharField(max_length=32)
    game_state: fields.JSONField[dict[str, Any]] = fields.JSONField()
    options: fields.JSONField[dict[str, Any]] = fields.JSONField()
    throttles: fields.JSONField[list[int]] = fields.JSONField()
    score_total = fields.FloatField()
    distance_error = fields.FloatField()
    speed_penalty = fields.FloatField()
    ticks = fields.IntField()
    nonzero_ticks = fields.IntField()
    final_speed = fields.FloatField()
    target_distance = fields.FloatField()
    distance_covered = fields.FloatField()
    compute_seconds = fields.FloatField()
    arrival = fields.CharField(max_length=32, default="on_target")
    lower_bound = fields.FloatField(null=True)
    proven_optimal = fields.BooleanField(default=False)
    # The summary of the guidance session that started from the plan, once it ended (Guide).
    guidance: fields.JSONField[dict[str, Any]] = fields.JSONField(null=True)

    class Meta:
        table = "plans"
        indexes = (
            # Newest-first listing with keyset pagination.
            Index(fields=("created_at", "id"), name="plans_created_at_id_idx"),
            Index(fields=("user_id", "created_at"), name="plans_user_id_created_at_idx"),
        )
