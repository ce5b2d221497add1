"""The outbox with a fake database that can be taken away: nothing answered is ever lost.

Interleavings are controlled, never timed: the fake database can hold a write at a gate, and the
journal thread can be kept busy (a slow disk) by queueing a job that waits on an event.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from tests.support import READY_WITHIN_SECONDS, game_state, within
from throttling_sequencer.adapters.storage import codec
from throttling_sequencer.adapters.storage.journal import ADOPTER, OWNER, POISON, Journal
from throttling_sequencer.adapters.storage.outbox import BATCH, OutboxRepository
from throttling_sequencer.domain.errors import BacklogFull, PlanNotFound, StorageRejected, StorageUnavailable
from throttling_sequencer.domain.model import GuidanceSummary, Plan, PlannerOverrides, Score, Strategy
from throttling_sequencer.domain.ports import PageCursor, StorageStatus

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def plan(seconds: int = 0, user_id: str = "u") -> Plan:
    return Plan(
        plan_id=uuid4(), request_id="r", user_id=user_id, created_at=T0 + timedelta(seconds=seconds),
        strategy=Strategy.EXACT, game_state=game_state(), overrides=PlannerOverrides(max_ticks=9),
        throttles=(300, 12), score=Score(1.0, 0.5, 0.0, 2, 2), final_speed=3.0, target_distance=5000.0,
        distance_covered=4999.5, compute_seconds=0.002, lower_bound=0.9,
    )  # fmt: skip


class FlakyDatabase:
    """Stores plans like a database with a unique id; can be switched off, held, or made to refuse
    some plans for good."""

    def __init__(self) -> None:
        self.rows: dict[UUID, Plan] = {}
        self.inserts: list[UUID] = []
        self.calls = 0
        self.up = True
        self.reconnects = 0
        self.reconnected = asyncio.Event()
        self.stored = asyncio.Event()
        #: Ids refused for good (like a value too long for its column).
        self.refused: set[UUID] = set()
        #: When not None, writes wait for it (a slow database).
        self.gate: asyncio.Event | None = None
        #: Set once a write has begun (before the gate).
        self.writing = asyncio.Event()
        #: Called with each write's plans before it is tried.
        self.on_write: Callable[[list[Plan]], None] = lambda plans: None

    def _check(self) -> None:
        if not self.up:
            raise StorageUnavailable("database away")

    async def open(self) -> None:
        self._check()

    async def close(self) -> None: ...

    def status(self) -> StorageStatus:
        return StorageStatus("flaky")

    async def reconnect(self) -> None:
        self.reconnects += 1
        self.reconnected.set()
        self._check()

    async def add_many(self, plans: list[Plan]) -> None:
        self.writing.set()
        if self.gate is not None:
            await self.gate.wait()
        self._check()
        self.calls += 1
        self.on_write(plans)
        refused = [p for p in plans if p.plan_id in self.refused]
        if refused:
            raise StorageRejected(f"value too long for type character varying(256) in {refused[0].plan_id}")
        for p in plans:
            self.inserts.append(p.plan_id)
            self.rows[p.plan_id] = p  # a plan stored again is replaced (the port's contract)
        self.stored.set()

    async def add(self, plan: Plan) -> None:
        await self.add_many([plan])

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


class FailingDisk:
    """An os function (fsync by default) that fails its next `failures` calls with EIO, as a dying
    disk does."""

    def __init__(self, failures: int, function: Callable[..., None] = os.fsync) -> None:
        self.failures = failures
        self.calls = 0
        self._function = function

    def __call__(self, *args: int) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EIO, "Input/output error")
        self._function(*args)


def journaled(directory: Path) -> list[UUID]:
    """The plan ids a restart would replay from this journal."""
    return [p.plan_id for p in Journal(directory).read()]


def journal_thread_busy(outbox: OutboxRepository, until: threading.Event) -> None:
    """Queue a job on the journal thread that holds it until `until` is set (a slow disk)."""
    outbox._io.submit(until.wait)


async def settle(outbox: OutboxRepository) -> None:
    await within(outbox.drained(), "the outbox to drain")
    assert outbox.pending == 0


async def test_plans_reach_the_database(tmp_path: Path) -> None:
    database = FlakyDatabase()
    outbox = OutboxRepository(database, tmp_path / "outbox-0")
    await outbox.open()
    stored = [plan(i) for i in range(5)]
    for p in stored:
        await outbox.add(p)
    await settle(outbox)
    assert set(database.rows) == {p.plan_id for p in stored}
    assert await outbox.get(stored[0].plan_id, owner=None) == stored[0]
    await outbox.close()
    assert journaled(tmp_path / "outbox-0") == []


async def test_answers_do_not_wait_for_a_dead_database_and_nothing_is_lost(tmp_path: Path) -> None:
    clock = [100.0]
    database = FlakyDatabase()
    outbox = OutboxRepository(database, tmp_path / "outbox-0", monotonic=lambda: clock[0])
    await outbox.open()
    database.up = False
    waiting = [plan(i) for i in range(20)]
    for p in waiting:
        await outbox.add(p)  # answered although the database is away
    # Readers see what is waiting.
    assert await outbox.get(waiting[3].plan_id, owner=None) == waiting[3]
    await within(database.reconnected.wait(), "the flusher to reconnect")  # it keeps trying
    assert outbox.pending == 20
    clock[0] += 7.5
    database.up = True
    await settle(outbox)
    assert set(database.rows) == {p.plan_id for p in waiting}
    assert outbox.max_write_delay == 7.5
    await outbox.close()


async def test_the_journal_survives_a_restart(tmp_path: Path) -> None:
    journal = tmp_path / "outbox-0"
    database = FlakyDatabase()
    database.up = False
    first = OutboxRepository(database, journal, grace=0.1)
    await first.open()
    kept = [plan(i) for i in range(3)]
    for p in kept:
        await first.add(p)
    await first.close()  # database still away: the plans stay journaled
    assert journaled(journal) == [p.plan_id for p in kept]

    database.up = True
    second = OutboxRepository(database, journal)
    await second.open()
    await settle(second)
    assert [database.rows[p.plan_id] for p in kept] == kept
    await second.close()
    assert journaled(journal) == []


async def test_retries_are_idempotent(tmp_path: Path) -> None:
    database = FlakyDatabase()
    p = plan()
    database.rows[p.plan_id] = p  # stored before a crash that left it journaled too
    outbox = OutboxRepository(database, tmp_path / "outbox-0")
    await outbox.open()
    await outbox.add(p)
    await settle(outbox)
    assert list(database.rows) == [p.plan_id]
    await outbox.close()


async def test_a_plan_stored_again_while_its_first_version_is_written_ends_up_newest(tmp_path: Path) -> None:
    """A guidance session stores its plan at the start and again with its summary at the end; the
    second version may arrive while the flusher is writing the first."""
    database = FlakyDatabase()
    database.gate = asyncio.Event()  # the first write hangs
    outbox = OutboxRepository(database, tmp_path / "outbox-0")
    await outbox.open()
    first = plan()
    await outbox.add(first)
    await within(database.writing.wait(), "the flusher to start writing the first version")
    second = replace(first, guidance=GuidanceSummary(40, 2, 0.125, 3.5, 0.25, True))
    await outbox.add(second)
    assert await outbox.get(first.plan_id, owner=None) == second
    database.gate.set()
    await settle(outbox)
    assert database.rows[first.plan_id] == second
    await outbox.close()
    assert journaled(tmp_path / "outbox-0") == []


async def test_a_plan_journaled_twice_replays_its_newest_version(tmp_path: Path) -> None:
    journal = tmp_path / "outbox-0"
    database = FlakyDatabase()
    database.up = False
    first = OutboxRepository(database, journal, grace=0.1)
    await first.open()
    older = plan()
    newer = replace(older, guidance=GuidanceSummary(12, 1, -0.5, 2.5, 0.125, False))
    await first.add(older)
    await first.add(newer)
    await first.close()  # database still away: both lines stay journaled

    database.up = True
    second = OutboxRepository(database, journal)
    await second.open()
    await settle(second)
    assert database.rows == {older.plan_id: newer}
    await second.close()


async def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    journal = tmp_path / "outbox-0"
    database = FlakyDatabase()
    good = plan()
    Journal(journal).directory.mkdir()
    (journal / "000000000001.jsonl").write_text(json.dumps(codec.plan_to_json(good)) + '\n{"plan_id": "torn')
    outbox = OutboxRepository(database, journal)
    await outbox.open()
    await settle(outbox)
    assert list(database.rows) == [good.plan_id]
    await outbox.close()


async def test_a_damaged_line_inside_the_journal_is_kept_in_the_poison_file(tmp_path: Path) -> None:
    """A complete line that cannot be read (a bit flip, a bad sector) was acknowledged once: the
    plans around it are stored, and it is kept, counted with the poisoned writes, not deleted
    with its segment. (A torn last line, above, was never acknowledged.)"""
    journal = tmp_path / "outbox-0"
    database = FlakyDatabase()
    first, last = plan(), plan(1)
    damaged = json.dumps(codec.plan_to_json(plan(2))).encode().replace(b'"score"', b'"sc\xffre"')
    Journal(journal).directory.mkdir()
    lines = [
        json.dumps(codec.plan_to_json(first)).encode(),
        damaged,
        json.dumps(codec.plan_to_json(last)).encode(),
    ]
    (journal / "000000000001.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    outbox = OutboxRepository(database, journal)
    await outbox.open()
    await settle(outbox)
    await outbox.close()
    assert set(database.rows) == {first.plan_id, last.plan_id}
    assert outbox.poisoned == 1
    kept = json.loads((journal / POISON).read_bytes())
    assert "unreadable journal line" in kept["error"]
    assert kept["line"].encode("utf-8", "surrogateescape") == damaged


async def test_a_journal_of_an_earlier_release_is_replayed(tmp_path: Path) -> None:
    """Before segmented journals, a worker's journal was one file, `outbox-<index>.jsonl`."""
    database = FlakyDatabase()
    old = plan()
    (tmp_path / "outbox-0.jsonl").write_text(json.dumps(codec.plan_to_json(old)) + "\n")
    outbox = OutboxRepository(database, tmp_path / "outbox-0")
    await outbox.open()
    await settle(outbox)
    assert list(database.rows) == [old.plan_id]
    assert not (tmp_path / "outbox-0.jsonl").exists()
    await outbox.close()


async def test_listing_merges_waiting_and_stored_plans(tmp_path: Path) -> None:
    database = FlakyDatabase()
    outbox = OutboxRepository(database, tmp_path / "outbox-0")
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


# -- drained means the journal matches; close never cuts journal I/O short (issue 9, item 3) --


async def test_drained_waits_until_the_journal_no_longer_holds_stored_plans(tmp_path: Path) -> None:
    """Regression: the outbox was marked drained before the journal caught up, so `close` could
    end with stored plans still journaled."""
    journal = tmp_path / "outbox-0"
    database = FlakyDatabase()
    outbox = OutboxRepository(database, journal)
    await outbox.open()
    database.gate = asyncio.Event()
    p = plan()
    await outbox.add(p)  # journaled; the flusher waits at the database
    disk = threading.Event()
    journal_thread_busy(outbox, disk)
    database.gate.set()
    await database.stored.wait()  # stored: the flusher has run on to its next journal step
    drained = asyncio.create_task(outbox.drained())
    await asyncio.sleep(0)  # one loop turn: enough for `drained` to finish if it were drained
    assert not drained.done(), "reported drained while the journal still holds a stored plan"
    assert journaled(journal) == [p.plan_id]
    disk.set()
    await within(drained, "the outbox to drain")
    assert journaled(journal) == []
    await outbox.close()


async def test_close_past_its_grace_never_cuts_journal_io_short(tmp_path: Path) -> None:
    """Regression (`journal empty after close` failed ~7 in 40 under load): `close` cancelled the
    flusher while its journal update was queued behind a slow fsync, so the update never ran."""
    journal = tmp_path / "outbox-0"
    database = FlakyDatabase()
    outbox = OutboxRepository(database, journal, grace=0)
    await outbox.open()
    database.gate = asyncio.Event()
    p = plan()
    await outbox.add(p)
    flusher = next(t for t in asyncio.all_tasks() if t.get_name() == "outbox-flusher")
    flusher_ended = threading.Event()
    flusher.add_done_callback(lambda _: flusher_ended.set())
    journal_thread_busy(outbox, flusher_ended)  # the disk is slow until close has stopped the flusher
    database.gate.set()
    await database.stored.wait()
    await within(outbox.close(), "the outbox to close")  # grace 0: the flusher is cancelled at once
    assert flusher.done()
    assert list(database.rows) == [p.plan_id]
    assert journaled(journal) == []


# -- one bad row must not block the rest (issue 9, item 10) ---------------------------------------


async def test_a_plan_refused_for_good_is_set_aside_and_the_rest_are_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: one plan the database refuses (e.g. a too-long user id) blocked all writes."""
    journal = tmp_path / "outbox-0"
    database = FlakyDatabase()
    database.up = False
    outbox = OutboxRepository(database, journal)
    await outbox.open()
    plans = [plan(i) for i in range(450)]
    bad = [plans[7], plans[333]]
    database.refused = {p.plan_id for p in bad}
    with monkeypatch.context() as fast_disk:
        fast_disk.setattr(os, "fsync", lambda fd: None)
        for p in plans:
            await outbox.add(p)
    database.up = True
    await settle(outbox)
    assert set(database.rows) == {p.plan_id for p in plans} - database.refused
    assert outbox.poisoned == 2
    # Finding each bad plan takes a few halvings, not a write per plan.
    batches = -(-len(plans) // BATCH)
    assert database.calls <= batches + 2 * 2 * (BATCH - 1).bit_length()
    kept = [json.loads(line) for line in (journal / POISON).read_text().splitlines()]
    assert [UUID(k["plan"]["plan_id"]) for k in kept] == [p.plan_id for p in bad]
    assert all("value too long" in k["error"] for k in kept)
    await outbox.close()
    assert journaled(journal) == []

    again = OutboxRepository(database, journal)  # the count survives a restart; nothing is retried
    await again.open()
    await settle(again)
    assert again.poisoned == 2 and len(database.rows) == len(plans) - 2
    await again.close()


async def test_a_fault_while_splitting_a_batch_loses_nothing(tmp_path: Path) -> None:
    database = FlakyDatabase()
    outbox = OutboxRepository(database, tmp_path / "outbox-0")
    database.gate = asyncio.Event()
    await outbox.open()
    plans = [plan(i) for i in range(16)]
    database.refused = {plans[11].plan_id}
    for p in plans:
        await outbox.add(p)

    def away_on_the_third_write(_: list[Plan]) -> None:
        if database.calls == 3:
            database.up = False  # the database goes away in the middle of the search

    database.on_write = away_on_the_third_write
    database.gate.set()
    await within(database.reconnected.wait(), "the flusher to reconnect")
    assert 0 < outbox.pending < 16
    database.up = True
    await settle(outbox)
    assert set(database.rows) == {p.plan_id for p in plans} - database.refused
    assert outbox.poisoned == 1
    await outbox.close()


async def test_a_refused_plan_stays_waiting_while_the_poison_file_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = FlakyDatabase()
    database.gate = asyncio.Event()
    outbox = OutboxRepository(database, tmp_path / "outbox-0")
    await outbox.open()
    bad = plan()
    database.refused = {bad.plan_id}
    await outbox.add(bad)
    disk = FailingDisk(failures=1)  # the poison file's fsync fails once
    monkeypatch.setattr(os, "fsync", disk)
    database.gate.set()
    await within(database.reconnected.wait(), "the flusher to reconnect")
    await settle(outbox)  # the next attempt keeps it
    assert disk.calls >= 2 and outbox.poisoned == 1
    assert len((tmp_path / "outbox-0" / POISON).read_text().splitlines()) == 1
    await outbox.close()


# -- append-only segments and a bounded backlog (issue 9, item 10) --------------------------------


async def test_draining_rewrites_nothing_and_removes_stored_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: every stored batch rewrote the whole journal (and fsync'd it) on the thread
    that fsyncs answers, so draining a backlog was quadratic."""
    journal = tmp_path / "outbox-0"
    database = FlakyDatabase()
    database.up = False
    outbox = OutboxRepository(database, journal, segment_bytes=64 * 1024)
    await outbox.open()
    plans = [plan(i) for i in range(4 * BATCH)]
    with monkeypatch.context() as fast_disk:  # appends are not what this test measures
        fast_disk.setattr(os, "fsync", lambda fd: None)
        for p in plans:
            await outbox.add(p)
    segments = Journal(journal).segments()
    assert len(segments) >= 3
    written = outbox.journal.bytes_written
    fsyncs = FailingDisk(failures=0)
    monkeypatch.setattr(os, "fsync", fsyncs)
    left_at_each_write: list[list[int]] = []
    database.on_write = lambda _: left_at_each_write.append(Journal(journal).segments())
    database.up = True
    await settle(outbox)
    assert set(database.rows) == {p.plan_id for p in plans}
    assert outbox.journal.bytes_written == written and fsyncs.calls == 0  # nothing rewritten
    assert left_at_each_write[-1][0] > segments[0]  # the oldest segments went as they were stored
    assert journaled(journal) == []
    await outbox.close()


async def test_the_backlog_is_bounded(tmp_path: Path) -> None:
    database = FlakyDatabase()
    database.up = False
    outbox = OutboxRepository(database, tmp_path / "outbox-0", max_pending=3)
    await outbox.open()
    for i in range(3):
        await outbox.add(plan(i))
    with pytest.raises(BacklogFull, match=r"3 answered plans wait to be stored \(at most 3 may wait\)"):
        await outbox.add(plan(9))
    assert outbox.pending == 3
    database.up = True
    await settle(outbox)
    await outbox.add(plan(10))  # taken again once the database caught up
    await settle(outbox)
    assert len(database.rows) == 4
    await outbox.close()


async def test_the_backlog_is_bounded_in_bytes(tmp_path: Path) -> None:
    database = FlakyDatabase()
    database.up = False
    size = len(json.dumps(codec.plan_to_json(plan()), separators=(",", ":"))) + 1
    outbox = OutboxRepository(database, tmp_path / "outbox-0", max_pending_bytes=2 * size)
    await outbox.open()
    await outbox.add(plan(0))
    await outbox.add(plan(1))
    with pytest.raises(BacklogFull, match="bytes"):
        await outbox.add(plan(2))
    assert outbox.pending == 2 and outbox.pending_bytes == 2 * size
    database.up = True
    await settle(outbox)
    assert outbox.pending_bytes == 0
    await outbox.close()


# -- a failed fsync (issue 9, item 10) ------------------------------------------------------------


async def test_a_plan_whose_journal_append_fails_is_refused_and_never_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the plan joined the pending set before its fsync, so a failed fsync left a
    plan reported failed to its client that the flusher stored anyway."""
    journal = tmp_path / "outbox-0"
    database = FlakyDatabase()
    outbox = OutboxRepository(database, journal)
    await outbox.open()
    database.gate = asyncio.Event()  # nothing is stored before the end of the test
    first = plan(0)
    await outbox.add(first)
    monkeypatch.setattr(os, "fsync", FailingDisk(failures=1))
    failed = plan(1)
    with pytest.raises(StorageUnavailable, match="could not journal the plan"):
        await outbox.add(failed)
    assert outbox.pending == 1
    with pytest.raises(PlanNotFound):
        await outbox.get(failed.plan_id, owner=None)
    assert journaled(journal) == [first.plan_id]  # the failed line was cut off
    last = plan(2)
    await outbox.add(last)
    database.gate.set()
    await settle(outbox)
    assert set(database.rows) == {first.plan_id, last.plan_id}
    await outbox.close()


async def test_an_append_whose_cut_also_fails_is_repaired_before_another_plan_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "outbox-0"
    database = FlakyDatabase()
    database.up = False
    outbox = OutboxRepository(database, journal, grace=0)
    await outbox.open()
    first = plan(0)
    await outbox.add(first)
    # The append's fsync fails and so does cutting it off: the next append cuts it off first.
    monkeypatch.setattr(os, "fsync", FailingDisk(failures=1))
    monkeypatch.setattr(os, "ftruncate", FailingDisk(failures=1, function=os.ftruncate))
    failed = plan(1)
    with pytest.raises(StorageUnavailable):
        await outbox.add(failed)
    second = plan(2)
    await outbox.add(second)
    assert journaled(journal) == [first.plan_id, second.plan_id]
    # Again, and that repair fails too: its plan is refused as well; the next one repairs.
    monkeypatch.setattr(os, "fsync", FailingDisk(failures=1))
    monkeypatch.setattr(os, "ftruncate", FailingDisk(failures=2, function=os.ftruncate))
    for p in (plan(3), plan(4)):
        with pytest.raises(StorageUnavailable):
            await outbox.add(p)
    last = plan(5)
    await outbox.add(last)
    kept = [first.plan_id, second.plan_id, last.plan_id]
    assert journaled(journal) == kept
    await outbox.close()  # database away: they stay journaled...
    database.up = True
    again = OutboxRepository(database, journal)  # ...and the restart replays only those
    await again.open()
    await settle(again)
    assert set(database.rows) == set(kept)
    await again.close()


async def test_a_caller_cancelled_during_the_append_still_gets_its_plan_stored(tmp_path: Path) -> None:
    """Once a line is in the journal its plan is flushed, even if the caller stopped waiting."""
    database = FlakyDatabase()
    outbox = OutboxRepository(database, tmp_path / "outbox-0")
    await outbox.open()
    disk = threading.Event()
    journal_thread_busy(outbox, disk)
    p = plan()
    adding = asyncio.create_task(outbox.add(p))
    await asyncio.sleep(0)  # let `add` start
    adding.cancel()
    disk.set()
    with pytest.raises(asyncio.CancelledError):
        await adding
    await within(database.stored.wait(), "the plan to be stored")
    await settle(outbox)
    assert list(database.rows) == [p.plan_id]
    await outbox.close()


# -- one process per journal; orphaned journals are adopted (issue 9, item 1) ---------------------


async def test_a_journal_of_a_worker_index_that_no_longer_runs_is_adopted(tmp_path: Path) -> None:
    database = FlakyDatabase()
    database.up = False
    left: list[Plan] = []
    for index in (1, 2):  # `serve --workers 3` stopped while the database was away
        worker = OutboxRepository(database, tmp_path / f"outbox-{index}", grace=0, workers=3)
        await worker.open()
        left.append(plan(index))
        await worker.add(left[-1])
        await worker.close()
    (tmp_path / "outbox-1" / POISON).write_text('{"error":"refused","plan":{}}\n')
    database.up = True
    # Restarted with two workers: index 1 still runs and keeps its own journal, index 2 is gone.
    sibling = OutboxRepository(database, tmp_path / "outbox-1", workers=2)
    await sibling.open()
    survivor = OutboxRepository(database, tmp_path / "outbox-0", workers=2)
    await survivor.open()
    await settle(survivor)
    await settle(sibling)
    assert set(database.rows) == {p.plan_id for p in left}
    assert sibling.poisoned == 1 and survivor.poisoned == 0
    assert journaled(tmp_path / "outbox-2") == []
    await survivor.close()
    await sibling.close()


async def test_a_worker_whose_journal_is_being_adopted_waits_and_starts_empty(tmp_path: Path) -> None:
    """Workers start together: worker 0 may be adopting a sibling's journal when the sibling opens."""
    database = FlakyDatabase()
    adopter = Journal(tmp_path / "outbox-1")
    assert adopter.lock(ADOPTER)
    sibling = OutboxRepository(database, tmp_path / "outbox-1", lock_wait=600)
    tried = threading.Event()
    take = sibling.journal.lock

    def noted(role: str = OWNER) -> bool:
        taken = take(role)
        tried.set()
        return taken

    sibling.journal.lock = noted  # type: ignore[method-assign]
    opening = asyncio.create_task(sibling.open())
    assert await asyncio.to_thread(tried.wait, READY_WITHIN_SECONDS), "the sibling never tried the lock"
    assert not opening.done()  # waiting, not failing
    adopter.release()
    await within(opening, "the sibling to open once the adopter let go")
    await sibling.close()


class OneAtATimeDatabase(FlakyDatabase):
    """Records how many of its operations ever ran at once (asyncpg allows one per connection).
    A cancelled operation takes a round trip to unwind, as a driver's cancel request does."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.most = 0

    async def _one(self, operation: Callable[[], Any]) -> Any:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0)  # a real driver yields here: room for another operation to start
            return await operation()
        except asyncio.CancelledError:
            await asyncio.to_thread(lambda: None)  # the cancel's round trip
            raise
        finally:
            self.running -= 1

    async def reconnect(self) -> None:
        await self._one(super().reconnect)

    async def add_many(self, plans: list[Plan]) -> None:
        await self._one(lambda: FlakyDatabase.add_many(self, plans))

    async def close(self) -> None:
        await self._one(super().close)


async def test_close_never_overlaps_the_write_it_cancels(tmp_path: Path) -> None:
    """The outbox runs one database operation at a time: flush, reconnect and close included."""
    database = OneAtATimeDatabase()
    database.gate = asyncio.Event()  # writes hang
    outbox = OutboxRepository(database, tmp_path / "outbox-0", grace=0)
    await outbox.open()
    p = plan()
    await outbox.add(p)
    await within(database.writing.wait(), "the flusher to start writing")
    await outbox.close()  # grace 0: the write is cancelled, and the store closes after it unwound
    assert database.most == 1
    assert journaled(tmp_path / "outbox-0") == [p.plan_id]  # not stored: kept for the next start
