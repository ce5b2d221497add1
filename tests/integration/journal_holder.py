"""A second process for the journal lock tests: opens an outbox on a journal, journals one plan
while its database is away, says `ready <plan id>`, then holds the journal until stdin closes.

Run as `python -m tests.integration.journal_holder JOURNAL_DIR WORKERS`.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from tests.support import game_state
from throttling_sequencer.adapters.storage.outbox import OutboxRepository
from throttling_sequencer.domain.errors import StorageUnavailable
from throttling_sequencer.domain.model import Plan, PlannerOverrides, Score, Strategy
from throttling_sequencer.domain.ports import PageCursor, StorageStatus


class AwayDatabase:
    """A database that is never reachable: whatever is added stays journaled."""

    async def open(self) -> None:
        raise StorageUnavailable("away")

    async def close(self) -> None: ...

    async def reconnect(self) -> None:
        raise StorageUnavailable("away")

    async def add(self, plan: Plan) -> None:
        raise StorageUnavailable("away")

    async def add_many(self, plans: list[Plan]) -> None:
        raise StorageUnavailable("away")

    def status(self) -> StorageStatus:
        return StorageStatus("postgres")

    async def get(self, plan_id: UUID, *, owner: str | None) -> Plan:
        raise StorageUnavailable("away")

    async def list(self, limit: int, after: PageCursor | None, *, owner: str | None) -> list[Plan]:
        raise StorageUnavailable("away")


def a_plan() -> Plan:
    """A plan as the development-mode caller (anonymous) would have been answered."""
    return Plan(
        plan_id=uuid4(), request_id="r", user_id="anonymous", created_at=datetime.now(UTC),
        strategy=Strategy.EXACT, game_state=game_state(), overrides=PlannerOverrides(),
        throttles=(300, 12), score=Score(1.0, 0.5, 0.0, 2, 2), final_speed=3.0, target_distance=5000.0,
        distance_covered=4999.5, compute_seconds=0.002,
    )  # fmt: skip


async def main(journal: Path, workers: int) -> None:
    outbox = OutboxRepository(AwayDatabase(), journal, grace=0, workers=workers, lock_wait=0)
    await outbox.open()
    plan = a_plan()
    await outbox.add(plan)  # fsync'd before it returns
    print("ready", plan.plan_id, flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await outbox.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
