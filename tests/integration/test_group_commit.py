"""Group commit through real servers: concurrent answers share one SQLite transaction, and every
answered plan survives the server being killed (SIGKILL) under load.

The first test holds the database at a gate, so "arrived during a commit" is a fact the test
controls. The crash test kills a real `serve` process once enough answers arrived, with calls in
flight, then reads the database file (after a restart that replays the outbox, when there is one)
and compares it with the answered ids: no sleeps, no timing.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import grpc
import pytest
from prometheus_client import REGISTRY

from tests.conftest import make_settings, new_database
from tests.support import (
    HANG_GUARD_SECONDS,
    child_environment,
    free_port,
    game_state_pb,
    grpc_serving,
    wait_for,
)
from throttling.v1 import game_state_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer import container
from throttling_sequencer.adapters.storage.group_commit import GroupCommit
from throttling_sequencer.adapters.storage.tortoise_repository import TortoisePlanRepository, apply_migrations
from throttling_sequencer.app import Application
from throttling_sequencer.domain.model import Plan
from throttling_sequencer.domain.ports import PlanRepository

SERVE = [sys.executable, "-m", "throttling_sequencer.cli", "serve"]
DATABASE = "throttling.sqlite3"


class GatedDatabase(TortoisePlanRepository):
    """The real SQLite store; while `gate` is set to an unset event, writes wait at it."""

    gate: ClassVar[asyncio.Event | None] = None
    writes: ClassVar[list[int]] = []

    async def add_many(self, plans: list[Plan]) -> None:
        GatedDatabase.writes.append(len(plans))
        if GatedDatabase.gate is not None:
            await GatedDatabase.gate.wait()
        await super().add_many(plans)


def stored_ids(data: Path) -> set[str]:
    with sqlite3.connect(data / DATABASE) as db:
        return {row[0] for row in db.execute("SELECT id FROM plans")}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The embedded default (a file in the test's data dir), or a fresh Postgres database."""
    if request.param == "sqlite":
        return ""
    return new_database(request.getfixturevalue("postgres"))


async def test_answers_arriving_during_a_commit_share_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setattr(container, "TortoisePlanRepository", GatedDatabase)
    monkeypatch.setattr(GatedDatabase, "writes", [])
    if database_url:
        await apply_migrations(database_url)
    app = Application(make_settings(database_url=database_url, data_dir=tmp_path, outbox="off"))
    await app.start()
    try:
        store = app.container.resolve(PlanRepository)
        assert isinstance(store, GroupCommit)
        GatedDatabase.gate = asyncio.Event()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = ThrottlingServiceStub(channel)
            first = asyncio.ensure_future(stub.CreatePlan(pb.CreatePlanRequest(game_state=game_state_pb())))
            await wait_for(lambda: GatedDatabase.writes == [1], "the first plan's commit to start")
            singles = [
                asyncio.ensure_future(stub.CreatePlan(pb.CreatePlanRequest(game_state=game_state_pb(d))))
                for d in (900.0, 1800.0, 2700.0, 3600.0, 4500.0)
            ]
            state = game_state_pb2.GameState(
                player_units=[game_state_pb().player_units[0]] * 3, enemy_units=game_state_pb().enemy_units
            )
            batch = asyncio.ensure_future(stub.CreatePlanBatch(pb.CreatePlanBatchRequest(game_state=state)))
            await wait_for(lambda: store.waiting == 8, "the other answers to wait for the next commit")
            assert not any(call.done() for call in (first, *singles, batch))  # stored before answered
            GatedDatabase.gate.set()
            answers = await asyncio.wait_for(asyncio.gather(first, *singles), HANG_GUARD_SECONDS)
            results = (await asyncio.wait_for(batch, HANG_GUARD_SECONDS)).results
            assert GatedDatabase.writes == [1, 8]  # one transaction for the eight that arrived meanwhile
            answered = {a.plan.plan_id for a in answers} | {r.plan.plan_id for r in results}
            assert len(answered) == 9
            for plan_id in answered:  # read back from the database
                assert (await stub.GetPlan(pb.GetPlanRequest(plan_id=plan_id))).plan.plan_id == plan_id
    finally:
        if GatedDatabase.gate is not None:  # a failed check must not leave the commit held
            GatedDatabase.gate.set()
            GatedDatabase.gate = None
        await app.stop()


async def test_a_call_past_its_deadline_is_logged_as_such_and_its_plan_still_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_records: list[Any]
) -> None:
    """The store holds a plan until the caller has given up: the caller sees DEADLINE_EXCEEDED,
    the server's log line and metrics say so, and the plan handed to the commit is stored."""
    monkeypatch.setattr(container, "TortoisePlanRepository", GatedDatabase)
    monkeypatch.setattr(GatedDatabase, "writes", [])
    app = Application(make_settings(database_url="", data_dir=tmp_path, outbox="off"))
    await app.start()
    try:
        GatedDatabase.gate = asyncio.Event()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            call = ThrottlingServiceStub(channel).CreatePlan(
                pb.CreatePlanRequest(game_state=game_state_pb()),
                timeout=2,
                metadata=(("x-request-id", "late-1"),),
            )
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await asyncio.wait_for(call, HANG_GUARD_SECONDS)
            assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

        def lines() -> list[Any]:
            return [
                r["extra"]
                for r in log_records
                if r["message"] == "rpc" and r["extra"]["request_id"] == "late-1"
            ]

        # The client's own deadline may fire before the server's cancellation reaches the handler.
        await wait_for(lambda: bool(lines()), "the server to end the late call")
        assert [line["status"] for line in lines()] == ["DEADLINE_EXCEEDED"]
        errors = REGISTRY.get_sample_value(
            "throttling_rpc_errors_total",
            {"method": "/throttling.v1.ThrottlingService/CreatePlan", "status": "DEADLINE_EXCEEDED"},
        )
        assert errors is not None and errors >= 1
        assert GatedDatabase.writes == [1] and not stored_ids(tmp_path)
        GatedDatabase.gate.set()  # only now, past the deadline, does the commit go through
        await wait_for(lambda: len(stored_ids(tmp_path)) == 1, "the abandoned call's plan to be stored")
    finally:
        if GatedDatabase.gate is not None:
            GatedDatabase.gate.set()
            GatedDatabase.gate = None
        await app.stop()


class Load:
    """Callers planning as fast as the server answers, until it goes away; records answered ids."""

    def __init__(self, stub: ThrottlingServiceStub, kill_after: int, kill: asyncio.Event) -> None:
        self.stub = stub
        self.kill_after = kill_after
        self.kill = kill
        self.answered: set[str] = set()
        self.cut: list[grpc.StatusCode] = []

    def _record(self, ids: list[str]) -> None:
        self.answered.update(ids)
        if len(self.answered) >= self.kill_after:
            self.kill.set()

    async def single(self, offset: int) -> None:
        distance = 1000.0 + offset
        while True:
            try:
                reply = await self.stub.CreatePlan(
                    pb.CreatePlanRequest(game_state=game_state_pb(distance)), timeout=HANG_GUARD_SECONDS
                )
            except grpc.aio.AioRpcError as error:
                self.cut.append(error.code())
                return
            self._record([reply.plan.plan_id])
            distance += 97.0

    async def batch(self) -> None:
        player = game_state_pb().player_units[0]
        state = game_state_pb2.GameState(player_units=[player] * 5, enemy_units=game_state_pb().enemy_units)
        while True:
            try:
                reply = await self.stub.CreatePlanBatch(
                    pb.CreatePlanBatchRequest(game_state=state), timeout=HANG_GUARD_SECONDS
                )
            except grpc.aio.AioRpcError as error:
                self.cut.append(error.code())
                return
            self._record([r.plan.plan_id for r in reply.results])


def start_server(data: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    environment = child_environment(
        THROTTLING_GRPC_PORT=str(port), THROTTLING_DATA_DIR=str(data), THROTTLING_LOG_LEVEL="WARNING", **env
    )
    with (data / "server.log").open("ab") as log:
        return subprocess.Popen(SERVE, env=environment, stdout=log, stderr=subprocess.STDOUT)


async def serving(process: subprocess.Popen[bytes], port: int, data: Path) -> None:
    async def up() -> bool:
        assert process.poll() is None, (data / "server.log").read_text()[-4000:]
        return await grpc_serving(f"127.0.0.1:{port}")

    await wait_for(up, f"the server on port {port} to report SERVING")


@pytest.mark.parametrize("outbox", ["off", "on"], ids=["sqlite", "sqlite-outbox"])
async def test_every_answered_plan_survives_a_sigkill_under_load(tmp_path: Path, outbox: str) -> None:
    port = free_port()
    server = start_server(tmp_path, port, THROTTLING_OUTBOX=outbox)
    try:
        await serving(server, port, tmp_path)
        kill = asyncio.Event()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            load = Load(ThrottlingServiceStub(channel), kill_after=300, kill=kill)
            callers = [asyncio.ensure_future(load.single(k)) for k in range(15)]
            callers.append(asyncio.ensure_future(load.batch()))
            await asyncio.wait_for(kill.wait(), HANG_GUARD_SECONDS)
            server.send_signal(signal.SIGKILL)  # with calls in flight: no drain, no flush
            await asyncio.wait_for(asyncio.gather(*callers), HANG_GUARD_SECONDS)
        await wait_for(lambda: server.poll() is not None, "the killed server to exit")
        assert server.returncode == -signal.SIGKILL
        assert load.cut, "no call was in flight when the server was killed"
        if outbox == "on":  # what reached only the journal is replayed by the next start
            server = start_server(tmp_path, port, THROTTLING_OUTBOX=outbox)
            await serving(server, port, tmp_path)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = ThrottlingServiceStub(channel)

                async def drained() -> bool:
                    status = await stub.GetStatus(pb.GetStatusRequest())
                    return bool(status.pending_writes == 0)

                await wait_for(drained, "the replayed journal to reach the database")
        missing = load.answered - stored_ids(tmp_path)
        assert not missing, f"{len(missing)} of {len(load.answered)} answered plans were lost"
        assert len(load.answered) >= 300
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
