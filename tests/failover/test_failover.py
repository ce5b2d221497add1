"""Flip the writer under load, take the database away, and prove no answered plan was lost.

Real parts: two Postgres 15 clusters with streaming replication, HAProxy choosing the writer
through its admin socket, pgbouncer in transaction mode in front, and the service (outbox on)
planning for several concurrent gRPC clients the whole time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
import pytest

from failover.lab import Lab
from tests.conftest import make_settings
from tests.integration.test_storage import T0, make_plan
from tests.support import game_state_pb
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.adapters.storage.outbox import OutboxRepository
from throttling_sequencer.adapters.storage.tortoise_repository import TortoisePlanRepository, apply_migrations
from throttling_sequencer.app import Application
from throttling_sequencer.container import ManagedRepository
from throttling_sequencer.domain.errors import StorageUnavailable

CLIENTS = 6
FLIPS = 5
OUTAGE_SECONDS = 10.0
BETWEEN_FLIPS_SECONDS = 2.0


@dataclass
class Call:
    started: float
    ended: float
    plan_id: str | None
    error: str | None = None


@dataclass
class Windows:
    flips: list[tuple[float, float]] = field(default_factory=list)
    outage: tuple[float, float] | None = None

    def in_outage(self, t: float) -> bool:
        return self.outage is not None and self.outage[0] <= t <= self.outage[1]

    def in_flip(self, t: float) -> bool:
        return any(start <= t <= end for start, end in self.flips)


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


async def client(stub: ThrottlingServiceStub, number: int, stop: asyncio.Event, calls: list[Call]) -> None:
    distance = 500.0 + 97.0 * number
    while not stop.is_set():
        started = time.monotonic()
        try:
            reply = await stub.CreatePlan(
                pb.CreatePlanRequest(game_state=game_state_pb(distance=distance)), timeout=5
            )
            calls.append(Call(started, time.monotonic(), reply.plan.plan_id))
        except grpc.aio.AioRpcError as error:
            calls.append(Call(started, time.monotonic(), None, f"{error.code().name}: {error.details()}"))
        distance += 1.0
        await asyncio.sleep(0.02)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.99 * (len(ordered) - 1))] if ordered else float("nan")


@pytest.mark.failover
async def test_a_read_only_node_is_a_transient_fault(lab: Lab) -> None:
    """After a flip the old writer is a standby: writing there must look like an outage, not a bug."""
    await apply_migrations(lab.direct_url(lab.writer))
    standby = TortoisePlanRepository(lab.direct_url(1 - lab.writer))
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
async def test_flips_and_an_outage_under_load_lose_no_plan(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await apply_migrations(lab.direct_url(lab.writer))
    settings = make_settings(database_url=lab.pgbouncer_url, data_dir=tmp_path / "data", outbox="on")
    app = Application(settings)
    await app.start()
    outbox = app.container.resolve(ManagedRepository)
    assert isinstance(outbox, OutboxRepository)
    calls: list[Call] = []
    windows = Windows()
    stop = asyncio.Event()
    began = time.monotonic()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = ThrottlingServiceStub(channel)
            load = [asyncio.create_task(client(stub, k, stop, calls)) for k in range(CLIENTS)]
            await asyncio.sleep(BETWEEN_FLIPS_SECONDS)
            for _ in range(FLIPS):
                started = time.monotonic()
                await asyncio.to_thread(lab.flip)
                windows.flips.append((started, time.monotonic() + 1.0))
                await asyncio.sleep(BETWEEN_FLIPS_SECONDS)
            started = time.monotonic()
            await asyncio.to_thread(lab.outage, OUTAGE_SECONDS)
            windows.outage = (started, time.monotonic() + 1.0)
            await asyncio.sleep(BETWEEN_FLIPS_SECONDS)
            stop.set()
            await asyncio.gather(*load)
        # Everything answered reaches the database once it is back.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(outbox.drained(), timeout=60)
        pending = outbox.pending
        max_delay = outbox.max_write_delay
    finally:
        await app.stop()

    connection = await asyncpg.connect(lab.direct_url(lab.writer))
    try:
        rows = await connection.fetch("SELECT id::text AS id, count(*) AS n FROM plans GROUP BY id")
    finally:
        await connection.close()
    stored = {row["id"]: row["n"] for row in rows}
    answered = [c.plan_id for c in calls if c.plan_id is not None]
    failed = [c for c in calls if c.error is not None]
    failed_outside = [
        c for c in failed if not windows.in_outage(c.started) and not windows.in_outage(c.ended)
    ]
    flip_latencies = [c.ended - c.started for c in calls if windows.in_flip(c.started)]
    report = (
        f"\nfailover report: {len(calls)} requests from {CLIENTS} clients "
        f"over {time.monotonic() - began:.0f} s, "
        f"{FLIPS} flips (writer unroutable {min(e - s for s, e in windows.flips) - 1:.2f}"
        f"-{max(e - s for s, e in windows.flips) - 1:.2f} s each) and one {OUTAGE_SECONDS:.0f} s outage\n"
        f"  answered {len(answered)}, failed {len(failed)} ({len(failed_outside)} outside the outage)\n"
        f"  p99 latency: {p99([c.ended - c.started for c in calls]) * 1000:.1f} ms overall, "
        f"{p99(flip_latencies) * 1000:.1f} ms during flips\n"
        f"  stored {len(stored)} plans; answered but missing {len(set(answered) - set(stored))}; "
        f"stored more than once {sum(1 for n in stored.values() if n > 1)}; pending {pending}; "
        f"max write delay {max_delay:.2f} s"
    )
    with capsys.disabled():
        print(report)
    assert answered, "the load produced no plans"
    assert pending == 0
    assert not failed_outside, failed_outside[:3]
    assert set(answered) <= set(stored), "an answered plan is missing from the database"
    assert all(n == 1 for n in stored.values())
    assert (tmp_path / "data" / "outbox-0.jsonl").stat().st_size == 0
