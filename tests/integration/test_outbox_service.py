"""The outbox in a real server and against real databases (issue 9, items 1 and 10).

SQLite with THROTTLING_OUTBOX=on for the server-level behaviour, a real Postgres 15 cluster for
telling permanent from transient database errors, and a second real process for the journal lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import grpc
import httpx
import pytest

from failover.lab import Cluster
from tests.conftest import make_settings, new_database
from tests.integration.journal_holder import AwayDatabase, a_plan
from tests.support import HANG_GUARD_SECONDS, free_port, game_state_pb, serving, stop_process, within
from throttling.v1 import throttling_service_pb2 as pb
from throttling_sequencer.adapters.storage.group_commit import GroupCommit
from throttling_sequencer.adapters.storage.journal import POISON, Journal
from throttling_sequencer.adapters.storage.outbox import JournalInUse, OutboxRepository
from throttling_sequencer.adapters.storage.tortoise_repository import TortoisePlanRepository, apply_migrations
from throttling_sequencer.app import Application
from throttling_sequencer.domain.errors import StorageRejected, StorageUnavailable
from throttling_sequencer.domain.model import Score
from throttling_sequencer.domain.ports import PlanRepository

REPO = Path(__file__).resolve().parents[2]


def outbox_of(app: Application) -> OutboxRepository:
    grouped = app.container.resolve(PlanRepository)
    assert isinstance(grouped, GroupCommit) and isinstance(grouped.store, OutboxRepository)
    return grouped.store


def create() -> pb.CreatePlanRequest:
    return pb.CreatePlanRequest(game_state=game_state_pb())


@contextmanager
def write_locked(database: Path) -> Iterator[None]:
    """Another connection holds SQLite's write lock: the server's inserts fail as `locked`."""
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_a_full_backlog_refuses_new_plans_with_resource_exhausted(tmp_path: Path) -> None:
    settings = make_settings(
        database_url=f"sqlite://{tmp_path / 'plans.sqlite3'}", data_dir=tmp_path, outbox="on",
        outbox_max_pending=2,
    )  # fmt: skip
    async with serving(settings) as (app, stub):
        with write_locked(tmp_path / "plans.sqlite3"):
            answered = [(await stub.CreatePlan(create(), timeout=HANG_GUARD_SECONDS)).plan for _ in range(2)]
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.CreatePlan(create(), timeout=HANG_GUARD_SECONDS)
            status = await stub.GetStatus(pb.GetStatusRequest())
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "2 answered plans wait to be stored" in (refused.value.details() or "")
        assert status.pending_writes == 2
        await within(outbox_of(app).drained(), "the outbox to drain")
        later = (await stub.CreatePlan(create(), timeout=HANG_GUARD_SECONDS)).plan  # taken again once stored
        for plan in [*answered, later]:
            assert (await stub.GetPlan(pb.GetPlanRequest(plan_id=plan.plan_id))).plan.plan_id == plan.plan_id


async def test_a_plan_the_database_refuses_is_set_aside_and_shown_in_status_and_metrics(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        database_url=f"sqlite://{tmp_path / 'plans.sqlite3'}", data_dir=tmp_path, outbox="on",
        metrics_port=free_port(),
    )  # fmt: skip
    async with serving(settings) as (app, stub):
        outbox = outbox_of(app)
        poison = replace(a_plan(), user_id="x" * 300)  # longer than the user_id column
        await outbox.add(poison)
        await within(outbox.drained(), "the outbox to drain")
        good = (await stub.CreatePlan(create(), timeout=HANG_GUARD_SECONDS)).plan  # writes go on
        await within(outbox.drained(), "the outbox to drain")
        status = await stub.GetStatus(pb.GetStatusRequest())
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"http://127.0.0.1:{app.metrics_port}/metrics")).text
        assert (await stub.GetPlan(pb.GetPlanRequest(plan_id=good.plan_id))).plan.plan_id == good.plan_id
    assert status.poisoned_writes == 1 and status.pending_writes == 0
    assert "throttling_poisoned_writes 1.0" in metrics
    kept = (tmp_path / "outbox-0" / POISON).read_text()
    assert str(poison.plan_id) in kept and "user_id" in kept


async def test_a_server_with_fewer_workers_stores_the_journals_of_the_workers_gone(tmp_path: Path) -> None:
    """`serve --workers 3` stopped while the database was away; `serve` (one worker) takes over."""
    left = []
    for index in (1, 2):
        worker = OutboxRepository(AwayDatabase(), tmp_path / f"outbox-{index}", grace=0, workers=3)
        await worker.open()
        left.append(a_plan())
        await worker.add(left[-1])
        await worker.close()
    settings = make_settings(
        database_url=f"sqlite://{tmp_path / 'plans.sqlite3'}", data_dir=tmp_path, outbox="on"
    )
    async with serving(settings) as (app, stub):
        await within(outbox_of(app).drained(), "the outbox to drain")
        for plan in left:
            stored = (await stub.GetPlan(pb.GetPlanRequest(plan_id=str(plan.plan_id)))).plan
            assert stored.plan_id == str(plan.plan_id)
    assert Journal(tmp_path / "outbox-1").read() == [] and Journal(tmp_path / "outbox-2").read() == []


def hold_journal(journal: Path, workers: int = 1) -> tuple[subprocess.Popen[str], UUID]:
    """Start a second process that holds `journal` with one plan in it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.journal_holder", str(journal), str(workers)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until it is ready, or ends if it died
    if not line.startswith("ready "):
        stop_process(process)
        raise AssertionError(
            f"journal holder did not start: {line!r} {process.stderr.read() if process.stderr else ''}"
        )
    return process, UUID(line.split()[1])


async def test_two_processes_never_share_a_journal_and_a_dead_ones_is_adopted(tmp_path: Path) -> None:
    database = f"sqlite://{tmp_path / 'plans.sqlite3'}"
    await apply_migrations(database)
    holder, held = await asyncio.to_thread(hold_journal, tmp_path / "outbox-1")
    try:
        # Same journal, another process: a clear start-up error naming the holder, at once (the
        # wait for a sibling that adopts a journal at start is not for a live owner).
        second = OutboxRepository(TortoisePlanRepository(database), tmp_path / "outbox-1", lock_wait=600)
        with pytest.raises(JournalInUse, match=rf"outbox-1 is in use by pid {holder.pid}"):
            await asyncio.wait_for(second.open(), timeout=60)
        # A one-worker server would adopt index 1, but not while a live process holds it.
        live = OutboxRepository(TortoisePlanRepository(database), tmp_path / "outbox-0", workers=1)
        await live.open()
        await within(live.drained(), "the live outbox to drain")
        await live.close()
        assert [p.plan_id for p in Journal(tmp_path / "outbox-1").read()] == [held]
    finally:
        holder.kill()  # dies without closing: the kernel drops its lock
        await asyncio.to_thread(holder.wait)
    heir = OutboxRepository(TortoisePlanRepository(database), tmp_path / "outbox-0", workers=1)
    await heir.open()
    await within(heir.drained(), "the heir to drain the adopted journal")
    stored = await heir.get(held, owner=None)
    await heir.close()
    assert stored.plan_id == held
    assert Journal(tmp_path / "outbox-1").read() == []


async def test_postgres_errors_are_told_apart_and_only_bad_rows_are_set_aside(
    postgres: Cluster, tmp_path: Path
) -> None:
    url = new_database(postgres)
    unmigrated = TortoisePlanRepository(url)
    await unmigrated.open()
    try:  # a missing table is the database's problem, not the row's: retried, never set aside
        with pytest.raises(StorageUnavailable):
            await unmigrated.add_many([a_plan()])
    finally:
        await unmigrated.close()
    await apply_migrations(url)
    good = [a_plan() for _ in range(5)]
    bad = [
        replace(a_plan(), user_id="nul\x00byte"),  # SQLSTATE 22021 from the server
        replace(a_plan(), score=Score(1.0, 0.5, 0.0, 2**40, 2)),  # out of int4 range, refused by asyncpg
        replace(a_plan(), user_id="x" * 300),  # longer than the column
    ]
    repository = TortoisePlanRepository(url)
    await repository.open()
    try:
        for plan in bad:
            with pytest.raises(StorageRejected):
                await repository.add_many([plan])
    finally:
        await repository.close()
    outbox = OutboxRepository(TortoisePlanRepository(url), tmp_path / "outbox-0")
    await outbox.open()
    try:
        for plan in [good[0], bad[0], *good[1:3], bad[1], bad[2], *good[3:]]:
            await outbox.add(plan)
        await within(outbox.drained(), "the outbox to drain")
        assert outbox.poisoned == 3
        for plan in good:
            assert (await outbox.get(plan.plan_id, owner=None)).plan_id == plan.plan_id
    finally:
        await outbox.close()
