"""A durable local outbox in front of the plan store: answering never waits on the database.

`add` appends the plan to a local journal (adapters/storage/journal.py: append-only segment
files, each append fsync'd) and only then counts it as accepted; a background flusher writes
accepted plans to the database in batches, idempotently by plan id, retrying with exponential
backoff and jitter while the database is away (down, failing over, or a read-only former writer)
and reconnecting between attempts. A segment is deleted once all its plans are stored, so
draining is linear in what was written.

A plan the database refuses for good (a data or constraint error) must not block the others:
a failing batch is split in halves until the offending plan is alone, and that plan is moved to
the journal's poison file (logged, counted in GetStatus and metrics, never dropped). So is a
damaged line found on replay: it was acknowledged once, so it is kept, not deleted with its segment.

The backlog is bounded (`max_pending` plans, `max_pending_bytes` of journal lines, which also
bounds the memory the waiting plans take): past it, new plans are refused with BacklogFull.

The journal is replayed on start, together with journals of worker indexes that no longer run
(shrinking `serve --workers` loses nothing); a journal is locked so two processes never share
one. `close` flushes what it can within the grace period and leaves the rest journaled.

Reads see waiting plans too, so a client can fetch a plan it was just given.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import heapq
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from loguru import logger

from throttling_sequencer.adapters.storage import journal as files
from throttling_sequencer.adapters.storage.journal import Journal, JournalInUse
from throttling_sequencer.domain.errors import BacklogFull, StorageRejected, StorageUnavailable
from throttling_sequencer.domain.model import Plan
from throttling_sequencer.domain.ports import PageCursor, PlanRepository, StorageStatus

INITIAL_BACKOFF = 0.05
MAX_BACKOFF = 2.0
BATCH = 200
#: A segment takes new plans until it holds this many bytes; then the next one starts.
SEGMENT_BYTES = 8 * 1024 * 1024
#: How long `open` waits for its journal while another worker adopts it (workers start together,
#: and the first one adopts journals it finds unlocked, which takes a moment per plan in them)
#: before giving up with JournalInUse. A journal held by its live owner fails at once.
LOCK_WAIT_SECONDS = 60.0
LOCK_POLL_SECONDS = 0.05

T = TypeVar("T")
# Module-level names: inside the class, `list` is the listing method.
Plans = list[Plan]
Sizes = list[int]
Replayed = list[tuple[Plan, int]]

__all__ = ["JournalInUse", "OutboxRepository"]


@dataclass(slots=True)
class _Waiting:
    plan: Plan
    accepted: float  # monotonic time it was accepted
    segment: int
    size: int  # bytes of its journal line


class OutboxRepository:
    def __init__(
        self,
        store: PlanRepository,
        journal: Path,
        grace: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        workers: int = 1,
        max_pending: int = 100_000,
        max_pending_bytes: int = 128 * 1024 * 1024,
        segment_bytes: int = SEGMENT_BYTES,
        lock_wait: float = LOCK_WAIT_SECONDS,
    ) -> None:
        self._store = store
        self._grace = grace
        #: The journal's files (read-only use outside the journal thread).
        self.journal = Journal(journal)
        self._workers = workers
        self._max_pending = max_pending
        self._max_pending_bytes = max_pending_bytes
        self._segment_bytes = segment_bytes
        self._lock_wait = lock_wait
        self._monotonic = monotonic
        self._pending: dict[UUID, _Waiting] = {}  # in acceptance order: flushed oldest first
        self._pending_bytes = 0
        self._appending = 0  # plans whose journal append is under way
        self._appending_bytes = 0
        self._live: dict[int, int] = {}  # segment -> plans in it not yet stored (or being appended)
        self._active = 1  # the segment new plans are appended to
        self._active_bytes = 0
        self._discards: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._refusing = False
        self._closed = False
        self._flusher: asyncio.Task[None] | None = None
        # Flush, reconnect and close never overlap: one database operation of ours at a time.
        self._store_lock = asyncio.Lock()
        # One thread does all journal I/O, in submission order: a segment is emptied only after
        # every append submitted before, and appends submitted after land in the emptied file.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-journal")
        #: Largest accepted-to-stored delay seen, in seconds (for reports and logs).
        self.max_write_delay = 0.0
        #: Plans the database refused for good, kept in the journal's poison file.
        self.poisoned = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    async def open(self) -> None:
        await self._take_journal()
        try:
            replayed = await self._journal_io(self._recover)
        except BaseException:
            await asyncio.to_thread(self._io.shutdown, True)
            self.journal.release()
            raise
        now = self._monotonic()
        for plan, size in replayed:
            self._pending[plan.plan_id] = _Waiting(plan, now, self._active, size)
            self._pending_bytes += size
        if replayed:
            self._live[self._active] = len(replayed)
            self._active_bytes = self._pending_bytes
            self._empty.clear()
            logger.warning(
                "replaying journaled plans", pending=self.pending, journal=str(self.journal.directory)
            )
        try:
            async with self._store_lock:
                await self._store.open()
        except StorageUnavailable as error:
            logger.warning(
                "database not reachable at start; plans are journaled until it is", error=error.detail
            )
        self._flusher = asyncio.create_task(self._flush_forever(), name="outbox-flusher")
        self._wake.set()

    async def close(self) -> None:
        """Flush within the grace period; whatever is left stays journaled for the next start.

        Journal I/O is never cut short; a database call still running after the grace period is.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._grace
        self._wake.set()
        if self._flusher is not None:
            try:
                await asyncio.wait_for(self.drained(), timeout=self._grace)
            except TimeoutError:
                logger.warning("closing with plans still journaled", pending=self.pending)
            self._stop.set()
            self._wake.set()
            # Between batches the flusher ends by itself; stuck in a database call past the grace
            # period, it is cancelled (its journal I/O is shielded and runs to the end regardless).
            await asyncio.wait({self._flusher}, timeout=max(0.0, deadline - loop.time()))
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        self._closed = True
        await asyncio.to_thread(self._io.shutdown, True)  # lets journal work under way finish
        self.journal.release()
        async with self._store_lock:
            await self._store.close()

    async def add(self, plan: Plan) -> None:
        """Accept a plan once its journal line is durable; refuse it if the backlog is full."""
        await self.add_many([plan])

    async def add_many(self, plans: Plans) -> None:
        """Accept plans once their journal lines are durable: one append and one fsync for all
        of them (a plan already waiting keeps its newest line; the database replaces one already
        stored). All are refused, or none, if the
        backlog cannot take them."""
        if self._closed:
            raise StorageUnavailable("the plan store is shutting down")
        if not plans:
            return
        lines = [files.encode(plan) for plan in plans]
        sizes = [len(line) for line in lines]
        total = sum(sizes)
        self._admit(len(plans), total)
        if self._active_bytes and self._active_bytes + total > self._segment_bytes:
            self._active += 1
            self._active_bytes = 0
        segment = self._active
        self._live[segment] = self._live.get(segment, 0) + len(plans)
        self._active_bytes += total
        self._appending += len(plans)
        self._appending_bytes += total
        self._empty.clear()
        appended = asyncio.get_running_loop().run_in_executor(
            self._io, self.journal.append, segment, b"".join(lines)
        )
        # The bookkeeping runs to the end even if the caller is cancelled meanwhile: a plan that
        # reached the journal is always flushed, one that did not never is.
        accepted = asyncio.ensure_future(self._accept(plans, segment, sizes, appended))
        accepted.add_done_callback(_retrieve)
        await asyncio.shield(accepted)

    async def reconnect(self) -> None:
        async with self._store_lock:
            await self._store.reconnect()

    def status(self) -> StorageStatus:
        return StorageStatus(
            self._store.status().kind,
            outbox=True,
            pending_writes=self.pending,
            poisoned_writes=self.poisoned,
            max_write_delay_seconds=self.max_write_delay,
        )

    async def get(self, plan_id: UUID, *, owner: str | None) -> Plan:
        waiting = self._pending.get(plan_id)
        if waiting is not None and (owner is None or waiting.plan.user_id == owner):
            return waiting.plan
        return await self._store.get(plan_id, owner=owner)

    async def list(self, limit: int, after: PageCursor | None, *, owner: str | None) -> list[Plan]:
        stored = await self._store.list(limit, after, owner=owner)
        waiting = heapq.nlargest(
            limit,
            (
                w.plan
                for w in self._pending.values()
                if (after is None or _key(w.plan) < (after.created_at, after.plan_id))
                and (owner is None or w.plan.user_id == owner)
            ),
            key=_key,
        )
        merged = {p.plan_id: p for p in [*stored, *waiting]}
        return sorted(merged.values(), key=_key, reverse=True)[:limit]

    async def drained(self) -> None:
        """Return once no accepted plan waits for the database and the journal holds no stored
        plan (its segments are gone or empty)."""
        await self._empty.wait()

    # -- accepting -------------------------------------------------------------------------

    def _admit(self, count: int, size: int) -> None:
        waiting = len(self._pending) + self._appending
        held = self._pending_bytes + self._appending_bytes
        if waiting + count > self._max_pending and waiting:  # alone, plans are taken however many
            limit = f"at most {self._max_pending} may wait"
        elif held + size > self._max_pending_bytes and waiting:  # ... or large
            limit = f"{held} bytes, at most {self._max_pending_bytes} may wait"
        else:
            if self._refusing:
                logger.info("outbox accepting plans again", pending=waiting, pending_bytes=held)
                self._refusing = False
            return
        if not self._refusing:
            logger.warning(
                "outbox full: refusing new plans until the database catches up "
                "(THROTTLING_OUTBOX_MAX_PENDING, THROTTLING_OUTBOX_MAX_PENDING_BYTES)",
                pending=waiting,
                pending_bytes=held,
            )
            self._refusing = True
        raise BacklogFull(waiting, limit)

    async def _accept(self, plans: Plans, segment: int, sizes: Sizes, appended: Awaitable[None]) -> None:
        total = sum(sizes)
        try:
            await appended
        except OSError as error:
            for _ in plans:
                self._release(segment)
            if segment == self._active:
                self._active_bytes = max(0, self._active_bytes - total)
            logger.error(
                "could not journal plans; refused",
                plan_ids=[str(plan.plan_id) for plan in plans],
                error=str(error),
            )
            raise StorageUnavailable(
                f"could not journal the plan, so it was not accepted: {error.strerror or error}"
            ) from error
        finally:
            self._appending -= len(plans)
            self._appending_bytes -= total
            self._wake.set()
        now = self._monotonic()
        for plan, size in zip(plans, sizes, strict=True):
            previous = self._pending.pop(plan.plan_id, None)
            if previous is not None:  # the same plan added twice: keep the newest line
                self._pending_bytes -= previous.size
                self._release(previous.segment)
            self._pending[plan.plan_id] = _Waiting(plan, now, segment, size)
            self._pending_bytes += size

    def _release(self, segment: int) -> None:
        """One plan of `segment` is stored (or was never accepted); discard the segment when empty.

        The discard is submitted at once, so it runs after every append submitted before it and
        before any submitted after: an emptied active segment never loses a later plan.
        """
        left = self._live[segment] - 1
        if left:
            self._live[segment] = left
            return
        del self._live[segment]
        active = segment == self._active
        if active:
            self._active_bytes = 0
        if self._closed:  # the journal thread is gone; what the segment holds is harmless to replay
            return
        self._discards.append(
            asyncio.get_running_loop().run_in_executor(self._io, self.journal.discard, segment, active)
        )

    # -- flushing --------------------------------------------------------------------------

    async def _flush_forever(self) -> None:
        backoff = INITIAL_BACKOFF
        while not self._stop.is_set():
            await self._wake.wait()
            self._wake.clear()
            while self._pending and not self._stop.is_set():
                batch = [w.plan for w in islice(self._pending.values(), BATCH)]
                try:
                    await self._store_batch(batch)
                except Exception as error:  # the flusher must outlive any fault, expected or not
                    if isinstance(error, StorageUnavailable):
                        detail = error.detail
                    else:
                        logger.opt(exception=error).error("unexpected error storing plans")
                        detail = repr(error)
                    delay = min(MAX_BACKOFF, backoff) * random.uniform(0.5, 1.5)  # jitter
                    logger.warning(
                        "plan store unavailable; retrying",
                        pending=self.pending,
                        retry_in=round(delay, 3),
                        error=detail,
                    )
                    backoff = min(MAX_BACKOFF, backoff * 2)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), timeout=delay)
                    if not self._stop.is_set():
                        await self._reconnect()
                    continue
                backoff = INITIAL_BACKOFF
                logger.debug("plans stored", stored=len(batch), pending=self.pending)
            await self._settle()

    async def _store_batch(self, batch: Plans) -> None:
        """Store `batch`, splitting it in halves around plans the database refuses for good and
        setting those aside. Raises StorageUnavailable (what is stored so far stays stored)."""
        parts = [batch]
        while parts:
            part = parts.pop()
            try:
                async with self._store_lock:
                    await self._store.add_many(part)
            except StorageRejected as error:
                if len(part) > 1:
                    middle = len(part) // 2
                    parts += [part[middle:], part[:middle]]  # the first half is tried first
                    continue
                await self._set_aside(part[0], error)
                continue
            await self._stored(part)

    async def _stored(self, plans: Plans) -> None:
        now = self._monotonic()
        for plan in plans:
            waiting = self._pending.get(plan.plan_id)
            if waiting is None or waiting.plan is not plan:  # gone, or a newer version still waits
                continue
            del self._pending[plan.plan_id]
            self.max_write_delay = max(self.max_write_delay, now - waiting.accepted)
            self._pending_bytes -= waiting.size
            self._release(waiting.segment)
        await self._settle()

    async def _set_aside(self, plan: Plan, error: StorageRejected) -> None:
        """Keep a plan the database will never take in the poison file, then stop retrying it."""
        try:
            await self._journal_io(self.journal.set_aside, plan, error.detail)
        except OSError as failure:  # not kept yet: it stays pending and is tried again
            raise StorageUnavailable(f"could not set a refused plan aside: {failure}") from failure
        self.poisoned += 1
        logger.error(
            "the database refused a plan for good; kept in the outbox's poison file",
            plan_id=str(plan.plan_id),
            user_id=plan.user_id,
            error=error.detail,
            poison=str(self.journal.directory / files.POISON),
        )
        await self._stored([plan])

    async def _settle(self) -> None:
        """Wait for segment discards under way; then, if nothing waits, the outbox is drained."""
        while self._discards:
            discards, self._discards = self._discards, []
            results = await asyncio.shield(asyncio.gather(*discards, return_exceptions=True))
            for result in results:
                if isinstance(result, BaseException):  # stored plans left journaled: replayed harmlessly
                    logger.error("could not remove a stored journal segment", error=repr(result))
        if not self._pending and not self._appending:
            self._empty.set()

    async def _reconnect(self) -> None:
        try:
            await self.reconnect()
        except Exception as error:  # retried with the next batch
            logger.debug("reconnect failed", error=repr(error))

    # -- the journal -----------------------------------------------------------------------

    async def _journal_io(self, function: Callable[..., T], *args: Any) -> T:
        """Run on the journal thread; a cancelled caller does not cancel the write."""
        return await asyncio.shield(asyncio.get_running_loop().run_in_executor(self._io, function, *args))

    async def _take_journal(self) -> None:
        waited = 0.0
        while not await asyncio.to_thread(self.journal.lock):
            pid, role = self.journal.holder()
            if (role == files.OWNER and files.alive(pid)) or waited >= self._lock_wait:
                holder = f"pid {pid}" if pid else "another process"
                raise JournalInUse(
                    f"outbox journal {self.journal.directory} is in use by {holder}: another "
                    "server runs on this data directory with the same THROTTLING_WORKER_INDEX; stop it, "
                    "or set THROTTLING_DATA_DIR"
                )
            await asyncio.sleep(LOCK_POLL_SECONDS)  # a sibling adopting it at start: soon done
            waited += LOCK_POLL_SECONDS

    def _recover(self) -> Replayed:
        """Gather this journal's plans and those of orphaned journals into one fresh segment.

        Runs on the journal thread at start. The new segment is durable before any old file is
        removed, so a crash in between only leaves duplicates, which are stored once.
        """
        own = self.journal.segments()
        # Oldest first (the single-file journal of earlier versions, then segments in order), so
        # a plan journaled twice (stored again with its guidance summary) replays its newest line.
        sources = [files.legacy_file(self.journal.directory)] + [self.journal.path(s) for s in own]
        adopted = list(self._adoptable())
        poison: builtins.list[bytes] = []
        for orphan in adopted:
            sources += [files.legacy_file(orphan.directory)] + [orphan.path(s) for s in orphan.segments()]
            poison += files.poisoned_lines(orphan.directory)
        plans: dict[UUID, Plan] = {}
        for source in sources:
            for plan in files.decode(source, damaged=poison):
                plans[plan.plan_id] = plan  # a plan journaled twice: its newest line wins
        self._active = (own[-1] + 1) if own else 1
        lines = [(plan, files.encode(plan)) for plan in plans.values()]
        if lines:
            self.journal.append(self._active, b"".join(line for _, line in lines))
        if poison:
            self.journal.keep_poisoned(poison)
        for source in sources:
            with contextlib.suppress(FileNotFoundError):
                source.unlink()
        for orphan in adopted:
            with contextlib.suppress(FileNotFoundError):
                (orphan.directory / files.POISON).unlink()
            logger.warning("adopted the journal of a worker no longer running", journal=str(orphan.directory))
            orphan.release()
        self.poisoned = self.journal.poisoned()
        return [(plan, len(line)) for plan, line in lines]

    def _adoptable(self) -> Iterator[Journal]:
        """For the first worker (index 0), the journals of other indexes at or past the worker count
        whose lock is free: their processes are gone. (A `serve --workers` worker is told it is
        one of one, so that is every other index; a sibling that starts meanwhile waits for the
        lock, then finds its journal empty: its plans are this worker's to store.)"""
        if files.index_of(self.journal.directory) != 0:
            return
        own = 0
        indexes: set[int] = set()
        for path in self.journal.directory.parent.iterdir():
            index = files.index_of(path.with_suffix("") if path.suffix == ".jsonl" else path)
            if index is not None and index != own and index >= self._workers:
                indexes.add(index)
        for index in sorted(indexes):
            orphan = Journal(self.journal.directory.with_name(f"outbox-{index}"))
            if orphan.lock(files.ADOPTER):
                yield orphan
            else:
                logger.info("journal in use by a live process; left to it", journal=str(orphan.directory))


def _key(plan: Plan) -> tuple[Any, UUID]:
    return (plan.created_at, plan.plan_id)


def _retrieve(task: asyncio.Future[None]) -> None:
    """Mark the outcome of a shielded task as seen (its caller may have been cancelled)."""
    if not task.cancelled():
        task.exception()
