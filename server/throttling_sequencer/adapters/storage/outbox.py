"""A durable local outbox in front of the plan store: answering never waits on the database.

`add` appends the plan to a local journal (one JSON line, flushed and fsync'd) and returns;
a background flusher writes journaled plans to the database, idempotently by plan id, retrying
with exponential backoff and jitter while the database is away (down, failing over, or a
read-only former writer) and reconnecting between attempts. The journal is replayed on start,
so a plan answered before a crash or restart still reaches the database; `close` flushes what
it can within the grace period and leaves the rest journaled for next time.

Reads see journaled plans too, so a client can fetch a plan it was just given.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from loguru import logger

from throttling_sequencer.adapters.storage import codec
from throttling_sequencer.domain.errors import StorageUnavailable
from throttling_sequencer.domain.model import Plan
from throttling_sequencer.domain.ports import PageCursor

INITIAL_BACKOFF = 0.05
MAX_BACKOFF = 2.0
BATCH = 200


class DurableStore(Protocol):
    """What the outbox needs from the database side."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def reconnect(self) -> None: ...
    async def add_many(self, plans: list[Plan]) -> None:
        """Insert, ignoring plans whose id is already stored (idempotent)."""
        ...

    async def get(self, plan_id: UUID, *, owner: str | None) -> Plan: ...
    async def list(self, limit: int, after: PageCursor | None, *, owner: str | None) -> list[Plan]: ...


class OutboxRepository:
    def __init__(
        self,
        store: DurableStore,
        journal: Path,
        grace: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._grace = grace
        self._journal = journal
        self._pending: dict[UUID, tuple[Plan, float]] = {}  # plan, when it was accepted
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._flusher: asyncio.Task[None] | None = None
        self._monotonic = monotonic
        self._file: Any = None
        # One thread does all journal I/O, in submission order: an append submitted after a
        # rewrite's snapshot lands in the new file, so the journal never drops a pending plan.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-journal")
        #: Largest accepted-to-stored delay seen, in seconds (for reports and logs).
        self.max_write_delay = 0.0

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def open(self) -> None:
        self._journal.parent.mkdir(parents=True, exist_ok=True)
        for plan in _read_journal(self._journal):
            self._pending[plan.plan_id] = (plan, self._monotonic())
            self._empty.clear()
        if self._pending:
            logger.warning("replaying journaled plans", pending=self.pending, journal=str(self._journal))
        self._rewrite_journal(self._snapshot())
        try:
            await self._store.open()
        except StorageUnavailable as error:
            logger.warning(
                "database not reachable at start; plans are journaled until it is", error=error.detail
            )
        self._flusher = asyncio.create_task(self._flush_forever(), name="outbox-flusher")
        self._wake.set()

    async def close(self) -> None:
        """Flush within the grace period; whatever is left stays journaled for the next start."""
        grace = self._grace
        self._wake.set()
        if self._flusher is not None:
            try:
                await asyncio.wait_for(self.drained(), timeout=grace)
            except TimeoutError:
                logger.warning("closing with plans still journaled", pending=self.pending)
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        self._io.shutdown(wait=True)
        if self._file is not None:
            self._file.close()
        await self._store.close()

    async def add(self, plan: Plan) -> None:
        line = json.dumps(codec.plan_to_json(plan), separators=(",", ":")) + "\n"
        self._pending[plan.plan_id] = (plan, self._monotonic())
        self._empty.clear()
        # The journal is the durable copy: flushed and fsync'd before the plan is answered.
        await asyncio.get_running_loop().run_in_executor(self._io, self._append, line)
        self._wake.set()

    async def get(self, plan_id: UUID, *, owner: str | None) -> Plan:
        waiting = self._pending.get(plan_id)
        if waiting is not None and (owner is None or waiting[0].user_id == owner):
            return waiting[0]
        return await self._store.get(plan_id, owner=owner)

    async def list(self, limit: int, after: PageCursor | None, *, owner: str | None) -> list[Plan]:
        stored = await self._store.list(limit, after, owner=owner)
        waiting = [
            p
            for p, _ in self._pending.values()
            if (after is None or _key(p) < (after.created_at, after.plan_id))
            and (owner is None or p.user_id == owner)
        ]
        merged = {p.plan_id: p for p in [*stored, *waiting]}
        return sorted(merged.values(), key=_key, reverse=True)[:limit]

    async def drained(self) -> None:
        """Return once no plan waits for the database."""
        await self._empty.wait()

    async def _flush_forever(self) -> None:
        backoff = INITIAL_BACKOFF
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = [plan for plan, _ in list(self._pending.values())[:BATCH]]
                try:
                    await self._store.add_many(batch)
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
                    await asyncio.sleep(delay)
                    await self._reconnect()
                    continue
                backoff = INITIAL_BACKOFF
                now = self._monotonic()
                for plan in batch:
                    _, accepted = self._pending.pop(plan.plan_id, (plan, now))
                    self.max_write_delay = max(self.max_write_delay, now - accepted)
                if not self._pending:
                    self._empty.set()
                logger.debug("plans stored", stored=len(batch), pending=self.pending)
                try:
                    await asyncio.get_running_loop().run_in_executor(
                        self._io, self._rewrite_journal, self._snapshot()
                    )
                except OSError as error:
                    logger.error("could not compact the outbox journal", error=str(error))

    async def _reconnect(self) -> None:
        try:
            await self._store.reconnect()
        except Exception as error:  # retried with the next batch
            logger.debug("reconnect failed", error=repr(error))

    def _append(self, line: str) -> None:
        if self._file is None:
            self._file = self._journal.open("a", encoding="utf-8")
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())

    def _snapshot(self) -> tuple[Plan, ...]:
        """The plans still pending, taken on the event loop (the only thread that changes them)."""
        return tuple(plan for plan, _ in self._pending.values())

    def _rewrite_journal(self, pending: tuple[Plan, ...]) -> None:
        """Atomically replace the journal with `pending` (journal thread only)."""
        temporary = self._journal.with_suffix(".tmp")
        with temporary.open("w", encoding="utf-8") as out:
            for plan in pending:
                out.write(json.dumps(codec.plan_to_json(plan), separators=(",", ":")) + "\n")
            out.flush()
            os.fsync(out.fileno())
        if self._file is not None:
            self._file.close()
            self._file = None
        os.replace(temporary, self._journal)


def _key(plan: Plan) -> tuple[Any, UUID]:
    return (plan.created_at, plan.plan_id)


def _read_journal(path: Path) -> list[Plan]:
    if not path.exists():
        return []
    plans = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            plans.append(codec.plan_from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            # A torn last line from a crash mid-write: that plan was never answered.
            logger.warning("skipping an unreadable journal line", journal=str(path), line=number)
    return plans
