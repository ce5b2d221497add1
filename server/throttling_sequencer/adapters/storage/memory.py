"""An in-memory PlanRepository: the fake for fast tests, and a no-disk option."""

from __future__ import annotations

from uuid import UUID

from throttling_sequencer.domain.errors import PlanNotFound
from throttling_sequencer.domain.model import Plan
from throttling_sequencer.domain.ports import PageCursor, StorageStatus


class InMemoryPlanRepository:
    def __init__(self) -> None:
        self._plans: dict[UUID, Plan] = {}

    async def open(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release."""

    async def reconnect(self) -> None:
        """Nothing to reconnect to."""

    def status(self) -> StorageStatus:
        return StorageStatus("memory")

    async def add(self, plan: Plan) -> None:
        self._plans[plan.plan_id] = plan

    async def add_many(self, plans: list[Plan]) -> None:
        for plan in plans:
            self._plans[plan.plan_id] = plan

    async def get(self, plan_id: UUID, *, owner: str | None) -> Plan:
        plan = self._plans.get(plan_id)
        if plan is None or (owner is not None and plan.user_id != owner):
            raise PlanNotFound(str(plan_id))
        return plan

    async def list(self, limit: int, after: PageCursor | None, *, owner: str | None) -> list[Plan]:
        readable = [p for p in self._plans.values() if owner is None or p.user_id == owner]
        newest_first = sorted(readable, key=lambda p: (p.created_at, p.plan_id), reverse=True)
        if after is not None:
            newest_first = [
                p for p in newest_first if (p.created_at, p.plan_id) < (after.created_at, after.plan_id)
            ]
        return newest_first[:limit]
