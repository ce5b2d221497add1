"""The outbox with a fake database that can be taken away: nothing answered is ever lost."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from tests.support import game_state
from throttling_sequencer.adapters.storage import codec
from throttling_sequencer.adapters.storage.outbox import OutboxRepository
from throttling_sequencer.domain.errors import PlanNotFound, StorageUnavailable
from throttling_sequencer.domain.model import Plan, PlannerOverrides, Score, Strategy
from throttling_sequencer.domain.ports import PageCursor

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def plan(seconds: int = 0) -> Plan:
    return Plan(
        plan_id=uuid4(), request_id="r", user_id="u", created_at=T0 + timedelta(seconds=seconds),
        strategy=Strategy.EXACT, game_state=game_state(), overrides=PlannerOverrides(max_ticks=9),
        throttles=(300, 12), score=Score(1.0, 0.5, 0.0, 2, 2), final_speed=3.0, target_distance=5000.0,
        distance_covered=4999.5, compute_seconds=0.002, lower_bound=0.9,
    )  # fmt: skip


class FlakyDatabase:
    """Stores plans like a database with a unique id; can be switched off."""

    def __init__(self) -> None:
        self.rows: dict[UUID, Plan] = {}
        self.inserts: list[UUID] = []
        self.up = True
        self.reconnects = 0

    def _check(self) -> None:
        if not self.up:
            raise StorageUnavailable("database away")

    async def open(self) -> None:
        self._check()

    async def close(self) -> None: ...

    async def reconnect(self) -> None:
        self.reconnects += 1
        self._check()

    async def add_many(self, plans: list[Plan]) -> None:
        self._check()
        for p in plans:
            self.inserts.append(p.plan_id)
            self.rows.setdefault(p.plan_id, p)

    async def get(self, plan_id: UUID, *, owner: str | None) -> Plan:
        self._check()
        row = self.rows.get(plan_id)
        if row is None or owner not in (None, row.user_id):
            raise PlanNotFound(str(plan_id))
        return row

    async def list(self, limit: int, after: PageCursor | None, *, owner: str | None) -> list[Plan]:
        self._check()
        readable = [p for p in self.rows.values() if owner in (None, p.user_id)]
        rows = sorted(readable, key=lambda p: (p.created_at, p.plan_id), reverse=True)
        if after is not None:
            rows = [p for p in rows if (p.created_at, p.plan_id) < (after.created_at, after.plan_id)]
        return rows[:limit]


async def settle(outbox: OutboxRepository) -> None:
    await asyncio.wait_for(outbox.drained(), timeout=10)
    assert outbox.pending == 0


async def test_plans_reach_the_database(tmp_path: Path) -> None:
    database = FlakyDatabase()
    outbox = OutboxRepository(database, tmp_path / "outbox.jsonl")
    await outbox.open()
    stored = [plan(i) for i in range(5)]
    for p in stored:
        await outbox.add(p)
    await settle(outbox)
    assert set(database.rows) == {p.plan_id for p in stored}
    assert await outbox.get(stored[0].plan_id, owner=None) == stored[0]
    await outbox.close()
    assert (tmp_path / "outbox.jsonl").read_text() == ""


async def test_answers_do_not_wait_for_a_dead_database_and_nothing_is_lost(tmp_path: Path) -> None:
    database = FlakyDatabase()
    outbox = OutboxRepository(database, tmp_path / "outbox.jsonl")
    await outbox.open()
    database.up = False
    waiting = [plan(i) for i in range(20)]
    started = time.monotonic()
    for p in waiting:
        await outbox.add(p)
    assert time.monotonic() - started < 2.0
    # Readers see what is waiting, newest first.
    assert await outbox.get(waiting[3].plan_id, owner=None) == waiting[3]
    await asyncio.sleep(0.3)
    assert outbox.pending == 20 and database.reconnects >= 1
    database.up = True
    await settle(outbox)
    assert set(database.rows) == {p.plan_id for p in waiting}
    assert outbox.max_write_delay >= 0.3
    await outbox.close()


async def test_the_journal_survives_a_restart(tmp_path: Path) -> None:
    journal = tmp_path / "outbox.jsonl"
    database = FlakyDatabase()
    database.up = False
    first = OutboxRepository(database, journal, grace=0.1)
    await first.open()
    kept = [plan(i) for i in range(3)]
    for p in kept:
        await first.add(p)
    await first.close()  # database still away: the plans stay journaled
    assert len(journal.read_text().splitlines()) == 3

    database.up = True
    second = OutboxRepository(database, journal)
    await second.open()
    await settle(second)
    assert [database.rows[p.plan_id] for p in kept] == kept
    await second.close()


async def test_retries_are_idempotent(tmp_path: Path) -> None:
    database = FlakyDatabase()
    p = plan()
    database.rows[p.plan_id] = p  # stored before a crash that left it journaled too
    (tmp_path / "outbox.jsonl").write_text("")
    outbox = OutboxRepository(database, tmp_path / "outbox.jsonl")
    await outbox.open()
    await outbox.add(p)
    await settle(outbox)
    assert list(database.rows) == [p.plan_id]
    await outbox.close()


async def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    journal = tmp_path / "outbox.jsonl"
    database = FlakyDatabase()
    good = plan()
    journal.write_text(json.dumps(codec.plan_to_json(good)) + '\n{"plan_id": "torn')
    outbox = OutboxRepository(database, journal)
    await outbox.open()
    await settle(outbox)
    assert list(database.rows) == [good.plan_id]
    await outbox.close()


async def test_listing_merges_waiting_and_stored_plans(tmp_path: Path) -> None:
    database = FlakyDatabase()
    outbox = OutboxRepository(database, tmp_path / "outbox.jsonl")
    await outbox.open()
    old = plan(0)
    await outbox.add(old)
    await settle(outbox)
    database.up = False
    with pytest.raises(StorageUnavailable):
        await outbox.list(10, None, owner=None)
    database.up = True
    new = plan(10)
    await outbox.add(new)
    listed = await outbox.list(10, None, owner=None)
    assert [p.plan_id for p in listed] == [new.plan_id, old.plan_id]
    await outbox.close()
