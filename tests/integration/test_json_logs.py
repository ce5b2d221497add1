"""The server's JSON log lines, as a user starts it (`serve`, default logging): each RPC's line and
each plan's line, one JSON object per line, with every field they carry."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc

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

RPC_FIELDS = {
    "time",
    "level",
    "message",
    "logger",
    "request_id",
    "user_id",
    "trace_id",
    "span_id",
    "method",
    "status",
    "duration_ms",
}
PLANNED_FIELDS = {
    "plan_id",
    "strategy",
    "score",
    "ticks",
    "gap",
    "iterations",
    "compute_ms",
    "queued_ms",
    "request_id",
    "user_id",
    "trace_id",
}


def lines_of(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


async def test_every_rpc_and_every_plan_logs_one_json_line_with_its_fields(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    env = child_environment(THROTTLING_GRPC_PORT=str(port), THROTTLING_DATA_DIR=str(tmp_path))
    env.pop("THROTTLING_LOG_LEVEL", None)  # the default: INFO, JSON lines
    with log.open("wb") as out:
        server = subprocess.Popen(  # noqa: ASYNC220 (starting is instant)
            [sys.executable, "-m", "throttling_sequencer.cli", "serve"], env=env, stderr=out, stdout=out
        )
    try:

        async def up() -> bool:
            assert server.poll() is None, log.read_text()[-4000:]
            return await grpc_serving(f"127.0.0.1:{port}")

        await wait_for(up, f"the server on port {port} to report SERVING")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = ThrottlingServiceStub(channel)
            metadata = (("x-request-id", "json-1"),)
            single = await stub.CreatePlan(
                pb.CreatePlanRequest(game_state=game_state_pb()), metadata=metadata
            )
            state = game_state_pb2.GameState(
                player_units=[game_state_pb().player_units[0]] * 2, enemy_units=game_state_pb().enemy_units
            )
            batch = await stub.CreatePlanBatch(
                pb.CreatePlanBatchRequest(game_state=state), metadata=(("x-request-id", "json-2"),)
            )
        server.send_signal(signal.SIGTERM)
        await wait_for(lambda: server.poll() is not None, "the server to stop")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=HANG_GUARD_SECONDS)
    lines = lines_of(log)
    rpcs = [line for line in lines if line["message"] == "rpc" and line["request_id"] in ("json-1", "json-2")]
    assert [line["method"].rsplit("/", 1)[1] for line in rpcs] == ["CreatePlan", "CreatePlanBatch"]
    for line in rpcs:
        assert set(line) >= RPC_FIELDS, RPC_FIELDS - set(line)
        assert line["level"] == "INFO" and line["status"] == "OK" and len(line["trace_id"]) == 32
    planned = [line for line in lines if line["message"] == "planned"]
    assert {line["plan_id"] for line in planned} == {single.plan.plan_id} | {
        r.plan.plan_id for r in batch.results
    }
    for line in planned:
        assert set(line) >= PLANNED_FIELDS, PLANNED_FIELDS - set(line)
    assert {line["request_id"] for line in planned} == {"json-1", "json-2"}
