"""Service benchmark: exact plans per second over gRPC, by worker processes and concurrent clients.

The server runs as `throttling-sequencer serve --workers W` (SQLite store in a temp dir). Load
comes from separate client processes, each an asyncio loop holding its share of the concurrent
calls, cycling through the public scenarios. Client and server share this machine's cores, so
the figures are for the whole loop, client included.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.planners import SCENARIOS
from throttling.v1 import game_state_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub


@dataclass
class Load:
    workers: int
    clients: int
    plans: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.plans / self.seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def requests() -> list[pb.CreatePlanRequest]:
    import json

    out = []
    for item in json.loads(SCENARIOS.read_text())["scenarios"]:
        state = json_format.ParseDict(item["game_state"], game_state_pb2.GameState())
        out.append(pb.CreatePlanRequest(game_state=state))
    return out


async def _client_loop(port: int, concurrency: int, seconds: float) -> tuple[int, int, list[float]]:
    bodies = requests()
    done, errors, latencies = 0, 0, []
    stop_at = time.monotonic() + seconds
    # Several connections per client process: SO_REUSEPORT balances connections, not calls, and
    # gRPC shares one connection between a process's channels unless each has its own pool.
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [
        grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) for _ in range(min(concurrency, 4))
    ]
    try:
        stubs = [ThrottlingServiceStub(channel) for channel in channels]

        async def one(offset: int) -> None:
            nonlocal done, errors
            stub = stubs[offset % len(stubs)]
            i = offset
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    await stub.CreatePlan(bodies[i % len(bodies)], timeout=10)
                    done += 1
                    latencies.append(time.perf_counter() - started)
                except grpc.aio.AioRpcError:
                    errors += 1
                i += concurrency

        await asyncio.gather(*(one(k) for k in range(concurrency)))
    finally:
        for channel in channels:
            await channel.close(grace=None)
    return done, errors, latencies


def _client_process(port: int, concurrency: int, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run(_client_loop(port, concurrency, seconds)))


def measure(port: int, workers: int, clients: int, seconds: float) -> Load:
    processes = min(clients, 2)
    shares = [clients // processes + (1 if k < clients % processes else 0) for k in range(processes)]
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    jobs = [context.Process(target=_client_process, args=(port, share, seconds, out)) for share in shares]
    started = time.perf_counter()
    for job in jobs:
        job.start()
    results = [out.get() for _ in jobs]
    for job in jobs:
        job.join()
    elapsed = time.perf_counter() - started
    plans = sum(r[0] for r in results)
    return Load(
        workers,
        clients,
        plans,
        sum(r[1] for r in results),
        min(elapsed, seconds + 1),
        [x for r in results for x in r[2]],
    )


def wait_serving(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
        except grpc.RpcError:
            time.sleep(0.2)
    raise TimeoutError("server did not start")


@contextmanager
def served(workers: int = 1, ready_within: float = 30.0) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`throttling-sequencer serve --workers N` on a free port, storing plans in a temporary SQLite
    database; yields (port, process) once it reports SERVING, and stops it afterwards."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {
            **os.environ,
            "THROTTLING_GRPC_PORT": str(port),
            "THROTTLING_DATA_DIR": data,
            "THROTTLING_LOG_LEVEL": "WARNING",
            "THROTTLING_METRICS_PORT": "0",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "throttling_sequencer.cli", "serve", "--workers", str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_serving(port, timeout=ready_within)
            yield port, server
        finally:
            server.terminate()
            server.wait(timeout=30)


def service_rows(quick: bool, progress: Callable[[str], None]) -> list[Load]:
    seconds = 2.0 if quick else 5.0
    rows = []
    for workers in (1, 2):
        with served(workers) as (port, _):
            for clients in (1, 16):
                progress(f"service: {workers} worker(s), {clients} client(s), {seconds:.0f} s")
                rows.append(measure(port, workers, clients, seconds))
    return rows


def render(rows: list[Load]) -> str:
    base = rows[0].rate
    columns = [("workers", 7), ("clients", 7), ("plans/s", 9), ("vs 1x1", 7), ("p50 ms", 8), ("p99 ms", 8)]
    header = " ".join(f"{name:>{width}}" for name, width in [*columns, ("errors", 6)])
    lines = [header, "-" * len(header)]
    for r in rows:
        ordered = sorted(r.latencies) or [float("nan")]
        p50, p99 = statistics.median(ordered), ordered[int(0.99 * (len(ordered) - 1))]
        lines.append(
            f"{r.workers:>7} {r.clients:>7} {r.rate:>9.0f} {r.rate / base:>6.2f}x "
            f"{p50 * 1000:>8.2f} {p99 * 1000:>8.2f} {r.errors:>6}"
        )
    return "\n".join(lines)
