"""Graceful drain of a real `serve` process on SIGTERM: the RPC in flight completes, new calls are
refused, and the plan answered during the drain is in the database when the process has exited.

Synchronised on evidence, never on sleeps or a clock: the server's "serving" log line, the
stream's first progress message (planning has started), health no longer SERVING (the signal was
handled). That the RPC was still in flight when the drain began is proven by the server's own log,
not assumed: its "rpc" line (written when the RPC ends) comes after "shutting down".
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support import (
    FAR,
    HANG_GUARD_SECONDS,
    LONGEST,
    child_environment,
    game_state_pb,
    stop_process,
    wait_for,
)
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.adapters.grpc.interceptors import REQUEST_ID_HEADER
from throttling_sequencer.adapters.storage.journal import Journal

SERVE = [sys.executable, "-m", "throttling_sequencer.cli", "serve"]
#: The drain must never be cut short by the grace period, however loaded the machine is.
GRACE_SECONDS = 120
#: The request id of the RPC in flight at SIGTERM, to find its line in the server's log.
IN_FLIGHT = "in-flight-at-sigterm"


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log: Path
    data: Path
    target: str = ""

    def lines(self) -> list[dict[str, object]]:
        text = self.log.read_text(errors="replace")
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@asynccontextmanager
async def serve(tmp_path: Path, outbox: str) -> AsyncIterator[Server]:
    env = child_environment(
        THROTTLING_GRPC_PORT="0",  # the "serving" line says which port it bound
        THROTTLING_DATA_DIR=str(tmp_path / "data"),
        THROTTLING_OUTBOX=outbox,
        THROTTLING_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS),
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(SERVE, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: ASYNC220
    server = Server(process, log, tmp_path / "data")
    try:

        def serving() -> bool:
            assert process.poll() is None, server.output()
            for line in server.lines():
                if line["message"] == "serving":
                    server.target = str(line["address"])
                    return True
            return False

        await wait_for(serving, "the server to log 'serving'")
        yield server
    finally:
        stop_process(process)


async def health(channel: grpc.aio.Channel) -> str:
    """SERVING / NOT_SERVING, or the status code of a refused health check."""
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=HANG_GUARD_SECONDS
        )
    except grpc.aio.AioRpcError as error:
        return error.code().name
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def stored_plan_ids(data: Path) -> set[str]:
    with sqlite3.connect(data / "throttling.sqlite3") as database:
        return {str(row[0]) for row in database.execute("SELECT id FROM plans")}


@pytest.mark.parametrize("outbox", ["off", "on"], ids=["direct", "outbox"])
async def test_sigterm_drains_the_rpc_in_flight_refuses_new_calls_and_flushes(
    tmp_path: Path, outbox: str
) -> None:
    # The longest search there is (300 generations of ~1,000-tick plans, about a second of CPU)
    # and SIGTERM sent as soon as it has started: it has all of that search left to run.
    request = pb.StreamPlanProgressRequest(game_state=FAR, options=LONGEST)
    async with serve(tmp_path, outbox) as server:
        async with (
            grpc.aio.insecure_channel(server.target) as streaming,
            grpc.aio.insecure_channel(server.target) as probing,
        ):
            watch = health_pb2_grpc.HealthStub(streaming).Watch(health_pb2.HealthCheckRequest())
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            call = ThrottlingServiceStub(streaming).StreamPlanProgress(
                request, metadata=((REQUEST_ID_HEADER, IN_FLIGHT),)
            )
            assert (await call.read()).WhichOneof("event") == "progress"  # planning has started

            server.process.send_signal(signal.SIGTERM)

            # Health watchers (in flight) hear NOT_SERVING: load balancers stop routing here.
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
            watch.cancel()  # an open watch would hold the drain until the grace period ends
            # New calls are refused. A call landing at the very moment the server stops
            # accepting is CANCELLED by gRPC core (grpc/grpc#41785); after that, UNAVAILABLE.
            seen: list[str] = []

            async def refused() -> bool:
                seen.append(await health(probing))
                return seen[-1] == "UNAVAILABLE"

            await wait_for(refused, "health checks to be refused after SIGTERM")
            assert set(seen) <= {"SERVING", "NOT_SERVING", "CANCELLED", "UNAVAILABLE"}, seen
            with pytest.raises(grpc.aio.AioRpcError) as new_call:
                await ThrottlingServiceStub(probing).CreatePlan(
                    pb.CreatePlanRequest(game_state=game_state_pb()), timeout=30
                )
            assert new_call.value.code() == grpc.StatusCode.UNAVAILABLE, new_call.value.details()

            # The plan in flight when SIGTERM arrived still completes.
            rest = []
            while (message := await call.read()) is not grpc.aio.EOF:  # type: ignore[attr-defined]
                rest.append(message)
            assert await call.code() == grpc.StatusCode.OK
            assert rest and rest[-1].WhichOneof("event") == "done"
            plan_id = rest[-1].done.plan_id

        await wait_for(lambda: server.process.poll() is not None, "the server to exit after draining")
        assert server.process.returncode == 0, server.output()
        lines = server.lines()
        assert any(line["message"] == "stopped" for line in lines), server.output()
    # The RPC was in flight when the drain began: it ended, OK, after the server said so.
    order = [(line["message"], line.get("request_id"), line.get("status")) for line in lines]
    drain = [message for message, _, _ in order].index("shutting down")
    assert order.index(("rpc", IN_FLIGHT, "OK")) > drain, server.output()
    # Its write was flushed before the process ended (through the outbox journal, or directly),
    # and no journal holds anything left to write.
    assert plan_id in stored_plan_ids(server.data)
    assert Journal(server.data / "outbox-0").read() == []
