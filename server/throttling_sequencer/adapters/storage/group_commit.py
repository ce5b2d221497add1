"""Group commit in front of a plan store: concurrent writes share one transaction.

Every plan is stored before it is answered, and a store pays most of a write per transaction
(a commit, a journal fsync, a round trip), not per plan. So writes that arrive while a commit is
under way wait for it to end and then go in together, in the next one: under load each commit
carries every plan that arrived during the previous one, and an idle store commits a lone plan
at once, with no timer added to anyone's answer. A batch's plans stay together, in one commit.

A write the store refuses (StorageRejected, BacklogFull: about the plans, not the store; or an
unexpected fault, which one write's plans may cause as well) must not fail the others that shared
its commit: each write of a failed group is tried again alone. A store that is unavailable fails
the whole group: none of it was stored.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from uuid import UUID

from throttling_sequencer.domain.errors import StorageUnavailable
from throttling_sequencer.domain.model import Plan
from throttling_sequencer.domain.ports import PageCursor, PlanRepository, StorageStatus

# Module-level names: inside the class, `list` is the listing method.
Plans = list[Plan]
Writes = list["_Write"]
#: Most plans one commit takes (at least one write, however large): a long transaction would
#: hold up the writes queued behind it.
MAX_GROUP_PLANS = 1_000


@dataclass(slots=True)
class _Write:
    """One caller's plans, and the outcome it waits for."""

    plans: Plans
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def __post_init__(self) -> None:
        self.done.add_done_callback(_retrieve)  # its caller may have been cancelled meanwhile

    def succeed(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)


class GroupCommit:
    """A PlanRepository that stores concurrent writes together in `store` (reads go straight to it)."""

    def __init__(self, store: PlanRepository, max_group_plans: int = MAX_GROUP_PLANS) -> None:
        #: The store the groups are committed to.
        self.store = store
        self._max = max_group_plans
        self._queue: deque[_Write] = deque()
        #: Plans in the commit under way.
        self.committing = 0
        self._committing: asyncio.Task[None] | None = None
        #: Commits made and plans they held (for tests and benchmarks: plans per commit).
        self.commits = 0
        self.committed = 0

    @property
    def waiting(self) -> int:
        """Plans handed over that wait for the next commit."""
        return sum(len(write.plans) for write in self._queue)

    async def open(self) -> None:
        await self.store.open()

    async def close(self) -> None:
        """Store what was handed over, then close the store."""
        if self._committing is not None:
            await asyncio.shield(self._committing)
        await self.store.close()

    async def reconnect(self) -> None:
        await self.store.reconnect()

    def status(self) -> StorageStatus:
        return self.store.status()

    async def add(self, plan: Plan) -> None:
        await self.add_many([plan])

    async def add_many(self, plans: Plans) -> None:
        """Return once `plans` are stored, in the next commit. A caller cancelled meanwhile does not
        take its plans out of the commit (they were handed over: stored, unanswered)."""
        if not plans:
            return
        write = _Write(list(plans))
        self._queue.append(write)
        if self._committing is None:
            self._committing = asyncio.create_task(self._commit_queued(), name="group-commit")
        await asyncio.shield(write.done)

    async def get(self, plan_id: UUID, *, owner: str | None) -> Plan:
        return await self.store.get(plan_id, owner=owner)

    async def list(self, limit: int, after: PageCursor | None, *, owner: str | None) -> list[Plan]:
        return await self.store.list(limit, after, owner=owner)

    async def _commit_queued(self) -> None:
        """Commit what is queued, group after group, until nothing is."""
        group: Writes = []
        try:
            while self._queue:
                group, size = [], 0
                while self._queue and (not group or size + len(self._queue[0].plans) <= self._max):
                    write = self._queue.popleft()
                    group.append(write)
                    size += len(write.plans)
                await self._commit(group)
        except BaseException:  # cancelled: whoever still waits is told, not left hanging
            for write in (*group, *self._queue):
                write.fail(StorageUnavailable("the plan store is shutting down"))
            self._queue.clear()
            raise
        finally:
            self._committing = None

    async def _commit(self, group: Writes) -> None:
        plans = [plan for write in group for plan in write.plans]
        self.committing = len(plans)
        try:
            await self.store.add_many(plans)
        except StorageUnavailable as error:  # about the store: nothing of the group was stored
            for write in group:
                write.fail(error)
        except Exception as error:  # about some plans, maybe: the others must not fail with them
            if len(group) == 1:
                group[0].fail(error)  # its caller reports it (unexpected: INTERNAL, logged)
                return
            for write in group:
                await self._commit([write])
        else:
            self.commits += 1
            self.committed += len(plans)
            for write in group:
                write.succeed()
        finally:
            self.committing = 0


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark an outcome as seen (its caller may have been cancelled and never look)."""
    if not future.cancelled():
        future.exception()
