"""Group commit: writes that arrive during a commit share the next one; none is answered before
it is stored; a plan refused for good fails only its own write.

Interleavings are controlled with the fake database's gate, never timed.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.support import wait_for, within
from tests.unit.storage.test_outbox import FailingDisk, FlakyDatabase, plan, settle
from throttling_sequencer.adapters.storage.group_commit import GroupCommit
from throttling_sequencer.adapters.storage.outbox import OutboxRepository
from throttling_sequencer.domain.errors import StorageRejected, StorageUnavailable
from throttling_sequencer.domain.model import Plan


async def writes_held(database: FlakyDatabase, store: GroupCommit, first: list[Plan]) -> asyncio.Task[None]:
    """Start a write of `first` and hold it at the database's gate."""
    database.gate = asyncio.Event()
    writing = asyncio.ensure_future(store.add_many(first))
    await wait_for(lambda: store.committing == len(first), "the first commit to start")
    return writing


async def test_writes_arriving_during_a_commit_share_the_next_one() -> None:
    database = FlakyDatabase()
    store = GroupCommit(database)
    sizes: list[int] = []
    database.on_write = lambda plans: sizes.append(len(plans))
    held = await writes_held(database, store, [plan(0)])
    later = [asyncio.ensure_future(store.add(plan(i))) for i in range(1, 5)]
    batch = asyncio.ensure_future(store.add_many([plan(10), plan(11), plan(12)]))
    await wait_for(lambda: store.waiting == 7, "the later writes to queue behind the commit")
    assert not any(write.done() for write in (held, *later, batch))  # nobody answered before its commit
    database.gate.set()  # type: ignore[union-attr]
    await within(asyncio.gather(held, *later, batch), "every write to be stored")
    assert sizes == [1, 7]  # the first alone, then every write that arrived meanwhile, together
    assert len(database.rows) == 8 and (store.commits, store.committed) == (2, 8)


async def test_a_plan_refused_for_good_fails_only_its_own_write() -> None:
    database = FlakyDatabase()
    store = GroupCommit(database)
    bad = plan(3)
    database.refused.add(bad.plan_id)
    held = await writes_held(database, store, [plan(0)])
    good = [asyncio.ensure_future(store.add(plan(i))) for i in (1, 2)]
    refused = asyncio.ensure_future(store.add_many([bad, plan(4)]))
    await wait_for(lambda: store.waiting == 4, "the writes to queue")
    database.gate.set()  # type: ignore[union-attr]
    await within(asyncio.gather(held, *good), "the good writes to be stored")
    with pytest.raises(StorageRejected):
        await refused
    assert bad.plan_id not in database.rows and len(database.rows) == 3  # the batch stays whole


async def test_an_unexpected_fault_one_write_causes_fails_only_that_write() -> None:
    database = FlakyDatabase()
    store = GroupCommit(database)
    bad = plan(3)

    def fault(plans: list[Plan]) -> None:
        if bad in plans:
            raise ValueError("a value the driver cannot take")  # neither refused nor unavailable

    database.on_write = fault
    first, others = plan(0), [plan(1), plan(2)]
    held = await writes_held(database, store, [first])
    good = [asyncio.ensure_future(store.add(p)) for p in others]
    faulty = asyncio.ensure_future(store.add_many([bad, plan(4)]))
    await wait_for(lambda: store.waiting == 4, "the writes to queue")
    database.gate.set()  # type: ignore[union-attr]
    await within(asyncio.gather(held, *good), "the good writes to be stored")
    with pytest.raises(ValueError, match="cannot take"):
        await faulty
    assert set(database.rows) == {p.plan_id for p in (first, *others)}  # the faulty write stays whole


async def test_an_unavailable_store_fails_every_write_of_the_group() -> None:
    database = FlakyDatabase()
    store = GroupCommit(database)
    held = await writes_held(database, store, [plan(0)])
    others = [asyncio.ensure_future(store.add(plan(i))) for i in (1, 2)]
    await wait_for(lambda: store.waiting == 2, "the writes to queue")
    database.up = False
    database.gate.set()  # type: ignore[union-attr]
    for write in (held, *others):
        with pytest.raises(StorageUnavailable):
            await write
    assert database.rows == {}


async def test_a_cancelled_caller_leaves_its_plans_in_the_commit() -> None:
    database = FlakyDatabase()
    store = GroupCommit(database)
    held = await writes_held(database, store, [plan(0)])
    queued = plan(1)
    caller = asyncio.ensure_future(store.add(queued))
    await wait_for(lambda: store.waiting == 1, "the write to queue")
    caller.cancel()
    database.gate.set()  # type: ignore[union-attr]
    await held
    await wait_for(lambda: queued.plan_id in database.rows, "the cancelled caller's plan to be stored")
    await store.close()


async def test_the_outbox_journals_a_group_with_one_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = FlakyDatabase()
    database.up = False  # everything stays journaled
    outbox = OutboxRepository(database, tmp_path / "outbox-0")
    await outbox.open()
    fsyncs = FailingDisk(failures=0)
    monkeypatch.setattr(os, "fsync", fsyncs)
    plans = [plan(i) for i in range(5)]
    await GroupCommit(outbox).add_many(plans)
    assert fsyncs.calls <= 2  # the group's line (and the new segment's directory entry)
    assert outbox.pending == 5
    database.up = True
    await settle(outbox)
    assert set(database.rows) == {p.plan_id for p in plans}
    await outbox.close()
