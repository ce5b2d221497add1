"""Flip the writer under load, take the database away, crash it, and prove no answered plan was lost.

Real parts: two Postgres 15 clusters with synchronous streaming replication, HAProxy choosing the
writer through its admin socket, pgbouncer in transaction mode in front, and the service (outbox
on) planning for several concurrent gRPC clients the whole time.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import pytest

from failover.lab import DATABASE, Lab, wait_until
from tests.conftest import make_settings
from tests.integration.test_storage import T0, make_plan
from tests.support import HANG_GUARD_SECONDS, game_state_pb
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.adapters.storage.group_commit import GroupCommit
from throttling_sequencer.adapters.storage.journal import Journal
from throttling_sequencer.adapters.storage.outbox import OutboxRepository
from throttling_sequencer.adapters.storage.tortoise_repository import TortoisePlanRepository, apply_migrations
from throttling_sequencer.app import Application
from throttling_sequencer.domain.errors import StorageUnavailable
from throttling_sequencer.domain.ports import PlanRepository

CLIENTS = 6
FLIPS = 5
OUTAGE_SECONDS = 10.0
#: Plans answered between two events (flips, outage, crash): the load paces itself, not a clock.
PLANS_BETWEEN_EVENTS = 40
#: Readiness waits: generous, since they only bound a failure; each fails with a clear message.
WAIT_SECONDS = 60.0


@dataclass
class Call:
    started: float
    ended: float
    plan_id: str | None
    error: str | None = None
    #: The phases (indexes into Load.phases) the call started and ended in.
    phases: tuple[int, int] = (0, 0)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    for tool in ("haproxy", "pgbouncer"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: `make test` installs it as root (tools/ensure-system-deps)")
    root = Path(tempfile.mkdtemp(prefix="throttling-lab-"))
    running = Lab.create(root)
    try:
        yield running
    finally:
        running.destroy()
        shutil.rmtree(root, ignore_errors=True)


async def wait_for(ready: Callable[[], bool], failure: Callable[[], str]) -> None:
    """Poll `ready` on the event loop; fail with `failure()` after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{failure()} (waited {WAIT_SECONDS:.0f} s)")
        await asyncio.sleep(0.02)


class Load:
    """CLIENTS gRPC clients planning continuously; every call is recorded."""

    def __init__(self, stub: ThrottlingServiceStub) -> None:
        self.calls: list[Call] = []
        #: What the test was doing, in order (a flip, an outage, the time after one): each call
        #: records the phases it started and ended in, so failures are placed by event, not clock.
        self.phases: list[str] = ["before any event"]
        self._stub = stub
        self._stop = asyncio.Event()
        self._clients = [asyncio.create_task(self._client(k)) for k in range(CLIENTS)]

    @property
    def answered(self) -> list[str]:
        return [c.plan_id for c in self.calls if c.plan_id is not None]

    async def answers(self, more: int) -> None:
        """Return once `more` further plans have been answered."""
        target = len(self.answered) + more
        await wait_for(
            lambda: len(self.answered) >= target,
            lambda: f"only {len(self.answered)} of {target} plans answered",
        )

    def enter(self, phase: str) -> int:
        """Calls from now on are in `phase`; returns its index."""
        self.phases.append(phase)
        return len(self.phases) - 1

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._clients)

    async def _client(self, number: int) -> None:
        distance = 500.0 + 97.0 * number
        while not self._stop.is_set():
            started, phase = time.monotonic(), len(self.phases) - 1
            try:
                reply = await self._stub.CreatePlan(
                    pb.CreatePlanRequest(game_state=game_state_pb(distance=distance)),
                    timeout=HANG_GUARD_SECONDS,
                )
                plan_id, error = reply.plan.plan_id, None
            except grpc.aio.AioRpcError as failure:
                plan_id, error = None, f"{failure.code().name}: {failure.details()}"
            phases = (phase, len(self.phases) - 1)
            self.calls.append(Call(started, time.monotonic(), plan_id, error, phases))
            distance += 1.0
            await asyncio.sleep(0.02)  # pacing: a client that plans, not a flood


@dataclass
class Outcome:
    """What the service and the writer's database hold once the load has stopped."""

    pending: int
    max_write_delay: float
    stored: dict[str, int]


@asynccontextmanager
async def service_under_load(lab: Lab, data_dir: Path) -> AsyncIterator[tuple[Load, list[Outcome]]]:
    """The service on pgbouncer with its outbox, and a Load; on exit: load stopped, outbox drained
    (or failed with its backlog), service stopped, and the writer's plans appended to the list."""
    await apply_migrations(lab.direct_url(lab.writer))
    app = Application(make_settings(database_url=lab.pgbouncer_url, data_dir=data_dir, outbox="on"))
    await app.start()
    grouped = app.container.resolve(PlanRepository)
    assert isinstance(grouped, GroupCommit)
    outbox = grouped.store
    assert isinstance(outbox, OutboxRepository)
    outcome: list[Outcome] = []
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            load = Load(ThrottlingServiceStub(channel))
            try:
                yield load, outcome
            finally:
                await load.stop()
        # Everything answered reaches the database once it is back.
        await wait_for(
            lambda: outbox.pending == 0, lambda: f"{outbox.pending} plans still wait for the database"
        )
        pending, max_delay = outbox.pending, outbox.max_write_delay
    finally:
        await app.stop()
    outcome.append(Outcome(pending, max_delay, await stored_plans(lab.direct_url(lab.writer))))


async def stored_plans(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT id::text AS id, count(*) AS n FROM plans GROUP BY id")
    finally:
        await connection.close()
    return {row["id"]: row["n"] for row in rows}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.99 * (len(ordered) - 1))] if ordered else float("nan")


@pytest.mark.failover
async def test_a_read_only_node_is_a_transient_fault(lab: Lab) -> None:
    """After a flip the old writer is a standby: writing there must look like an outage, not a bug."""
    await apply_migrations(lab.direct_url(lab.writer))
    await asyncio.to_thread(lab.wait_for_replay)  # the standby has the plans table too
    standby = TortoisePlanRepository(lab.direct_url(lab.standby))
    await standby.open()
    try:
        with pytest.raises(StorageUnavailable, match="read-only"):
            await standby.add_many([make_plan(T0)])
        await standby.reconnect()  # and the pool can be dropped and re-dialled
    finally:
        await standby.close()


def test_migrate_command_runs_on_postgres(lab: Lab) -> None:
    env = {**os.environ, "THROTTLING_DATABASE_URL": lab.direct_url(lab.writer)}
    result = subprocess.run(
        [sys.executable, "-m", "throttling_sequencer.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "migrations applied" in result.stdout and "127.0.0.1" in result.stdout


@pytest.mark.failover
async def test_reconnect_leaves_queries_in_flight_alone(lab: Lab) -> None:
    """The outbox re-dials after every failed write; reads in flight on the same pool must not
    be cut off by it, nor hold it up."""
    url = lab.direct_url(lab.writer)
    await apply_migrations(url)
    repository = TortoisePlanRepository(url)
    await repository.open()
    locker, observer = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE plans IN ACCESS EXCLUSIVE MODE")
            read = asyncio.create_task(repository.list(5, None, owner=None))
            blocked = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            deadline = time.monotonic() + WAIT_SECONDS
            while await observer.fetchval(blocked) == 0:  # until the read is in flight, blocked
                assert not read.done(), read
                assert time.monotonic() < deadline, "the read never reached the database"
                await asyncio.sleep(0.02)
            await repository.reconnect()
            assert not read.done(), "reconnect() waited for a query in flight, then cut it off"
        assert isinstance(await read, list)  # the lock is gone: the read completes normally
        await repository.add_many([make_plan(T0)])  # and the re-dialled pool works
    finally:
        await locker.close()
        await observer.close()
        await repository.close()


def _peek(connection: asyncpg.Connection) -> bytes:
    """What the server has sent that asyncpg has not read yet."""
    with socket.socket(fileno=os.dup(connection._transport.get_extra_info("socket").fileno())) as raw:
        try:
            return raw.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return b""


@pytest.mark.failover
async def test_a_server_lost_between_statements_is_a_transient_fault(lab: Lab) -> None:
    """Seen in the flush path during flips: `InternalClientError: cannot switch to state 15;
    another operation (2) is in progress`. No second operation is involved. When HAProxy cuts
    the server of a transaction, pgbouncer tells the client at once ("server conn crashed?"), even
    while the client is between two statements. If that message arrives together with the
    previous statement's result, asyncpg files it as an unexpected message (state 2), and the next
    statement (COMMIT, state 15) is refused. Reproduced here by holding the client's reads until
    both messages are waiting; the repository must report it as a transient fault."""
    in_transaction = b"Z\x00\x00\x00\x05T"  # ReadyForQuery, inside a transaction block
    # (asyncpg.connect takes statement_cache_size as an argument, not in the URL)
    connection = await asyncpg.connect(lab.pgbouncer_url.split("?")[0], statement_cache_size=0)
    transport = connection._transport
    try:
        await connection.execute("BEGIN")

        async def cut_the_server_once_answered() -> None:
            await wait_for(lambda: in_transaction in _peek(connection), lambda: "no answer to SELECT 1")
            lab.haproxy(f"shutdown sessions server writer/{lab.clusters[lab.writer].name}")
            await wait_for(
                lambda: _peek(connection).split(in_transaction, 1)[1].startswith(b"E"),
                lambda: f"pgbouncer did not report the lost server: {_peek(connection)!r}",
            )
            transport.resume_reading()

        transport.pause_reading()
        cutter = asyncio.create_task(cut_the_server_once_answered())
        assert await connection.execute("SELECT 1") == "SELECT 1"
        with pytest.raises(StorageUnavailable) as raised:
            await TortoisePlanRepository._guarded(lambda: connection.execute("COMMIT"))
        await cutter
        assert isinstance(raised.value.__cause__, asyncpg.InternalClientError), raised.value.__cause__
    finally:
        connection.terminate()


@pytest.mark.failover
async def test_flips_and_an_outage_under_load_lose_no_plan(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unroutable: list[float] = []
    began = time.monotonic()
    async with service_under_load(lab, tmp_path / "data") as (load, outcome):
        await load.answers(PLANS_BETWEEN_EVENTS)
        for flip in range(1, FLIPS + 1):
            load.enter(f"flip {flip}")
            unroutable.append(await asyncio.to_thread(lab.flip))
            load.enter(f"after flip {flip}")
            await load.answers(PLANS_BETWEEN_EVENTS)
        outage = load.enter("outage")
        await asyncio.to_thread(lab.outage, OUTAGE_SECONDS)
        load.enter("after the outage")  # the writer and its standby are back
        await load.answers(PLANS_BETWEEN_EVENTS)
    (after,) = outcome
    calls, answered, stored = load.calls, load.answered, after.stored
    failed = [c for c in calls if c.error is not None]
    # A call may fail only if the outage began before it ended and ended after it began.
    failed_outside = [c for c in failed if not c.phases[0] <= outage <= c.phases[1]]
    failures = Counter(" .. ".join(load.phases[p] for p in sorted(set(c.phases))) for c in failed)
    flip_latencies = [c.ended - c.started for c in calls if load.phases[c.phases[0]].startswith("flip")]
    report = (
        f"\nfailover report: {len(calls)} requests from {CLIENTS} clients "
        f"over {time.monotonic() - began:.0f} s, "
        f"{FLIPS} flips (writer unroutable {min(unroutable):.2f}-{max(unroutable):.2f} s each) "
        f"and one {OUTAGE_SECONDS:.0f} s outage\n"
        f"  answered {len(answered)}, failed {len(failed)} ({len(failed_outside)} outside the outage)"
        f"{''.join(f'; {n} in {phases}' for phases, n in failures.items())}\n"
        f"  p99 latency: {p99([c.ended - c.started for c in calls]) * 1000:.1f} ms overall, "
        f"{p99(flip_latencies) * 1000:.1f} ms during flips\n"
        f"  stored {len(stored)} plans; answered but missing {len(set(answered) - set(stored))}; "
        f"stored more than once {sum(1 for n in stored.values() if n > 1)}; pending {after.pending}; "
        f"max write delay {after.max_write_delay:.2f} s"
    )
    with capsys.disabled():
        print(report)
    assert answered, "the load produced no plans"
    assert after.pending == 0
    assert not failed_outside, [(load.phases[c.phases[0]], c.error) for c in failed_outside[:3]]
    assert set(answered) <= set(stored), "an answered plan is missing from the database"
    assert all(n == 1 for n in stored.values())
    assert Journal(tmp_path / "data" / "outbox-0").read() == []


@pytest.mark.failover
async def test_a_writer_crash_under_load_loses_no_answered_plan(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unplanned failover at the worst moment: the standby has fallen behind (as in a partition)
    and writes are in flight when the writer is SIGKILLed; the standby is promoted as it is.
    With synchronous replication the writer acknowledges a commit only once the standby has it,
    and the outbox forgets a plan only then: every answered plan is on the new writer. (With
    asynchronous replication the writes committed after the standby fell behind are lost.)"""
    assert lab.synchronous, "this test is about synchronous replication"
    writer = lab.clusters[lab.writer]
    async with service_under_load(lab, tmp_path / "data") as (load, outcome):
        await load.answers(PLANS_BETWEEN_EVENTS)
        await asyncio.to_thread(lab.detach_standby)
        before = writer.sql("SELECT count(*) FROM plans", DATABASE)
        written_since = (
            "SELECT (SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep') > 0"
            f" OR (SELECT count(*) FROM plans) > {before}"
        )
        await asyncio.to_thread(
            wait_until,
            lambda: writer.sql(written_since, DATABASE) == "t",
            lambda: f"no write reached {writer.name} after its standby fell behind",
            WAIT_SECONDS,
        )
        unroutable = await asyncio.to_thread(lab.crash)
        await load.answers(PLANS_BETWEEN_EVENTS)
    (after,) = outcome
    answered, stored = load.answered, after.stored
    failed = [c for c in load.calls if c.error is not None]
    missing = set(answered) - set(stored)
    with capsys.disabled():
        print(
            f"\ncrash report: {len(load.calls)} requests; writer {writer.name} killed with its standby "
            f"behind, new writer routable after {unroutable:.2f} s\n"
            f"  answered {len(answered)}, failed {len(failed)}; stored {len(stored)}; "
            f"answered but missing {len(missing)}; max write delay {after.max_write_delay:.2f} s"
        )
    assert answered, "the load produced no plans"
    assert not failed, failed[:3]
    assert not missing, f"{len(missing)} answered plans were lost with the crashed writer"
    assert all(n == 1 for n in stored.values())
