"""Soak: `make up`'s stack at ~80 % of its measured capacity through Envoy, then a graceful stop.

1. Start the stack (SQLite store) and measure capacity: plans/s through Envoy's REST front
   door with 8 concurrent callers for a few seconds.
2. Send plans at 80 % of that rate (open loop: a fixed schedule, not "as fast as answers
   come") for the soak duration, sampling the gRPC server's resident memory every 10 s.
3. With the load still running and paced streams in flight, stop the stack as Ctrl-C does
   and check that the streams finished with their `done` message and that every answered
   plan is in the database.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.frontdoor import STATE_JSON
from bench.stack import running_stack

CONCURRENCY_CAP = 32


@dataclass
class SoakReport:
    capacity: float
    target_rate: float
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    answered: list[str] = field(default_factory=list)
    memory: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)
    streams_started: int = 0
    streams_finished: int = 0
    stored: int = 0
    missing: int = 0


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server_pid(stack_pid: int) -> int:
    for task in Path(f"/proc/{stack_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"throttling_sequencer.cli" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
    raise LookupError("no gRPC server under the stack")


async def measure_capacity(client: httpx.AsyncClient, seconds: float = 5.0) -> float:
    done = 0
    stop_at = time.monotonic() + seconds

    async def caller() -> None:
        nonlocal done
        while time.monotonic() < stop_at:
            if (await client.post("/api/v1/plans", json={"gameState": STATE_JSON})).status_code == 200:
                done += 1

    await asyncio.gather(*(caller() for _ in range(8)))
    return done / seconds


async def soak(
    client: httpx.AsyncClient, report: SoakReport, stack_pid: int, progress: Callable[[str], None]
) -> None:
    pid = server_pid(stack_pid)
    started = time.monotonic()
    interval = 1.0 / report.target_rate
    slots = asyncio.Semaphore(CONCURRENCY_CAP)
    pending: set[asyncio.Task[None]] = set()

    async def one(distance: float) -> None:
        async with slots:
            body = {
                "gameState": STATE_JSON
                | {"enemy_units": [{"coordinate": {"x": distance, "y": 0}, "mass": 50}]}
            }
            began = time.perf_counter()
            try:
                response = await client.post("/api/v1/plans", json=body)
            except httpx.HTTPError as error:
                report.errors[type(error).__name__] = report.errors.get(type(error).__name__, 0) + 1
                return
            if response.status_code == 200:
                report.latencies.append(time.perf_counter() - began)
                report.answered.append(response.json()["plan"]["planId"])
            else:
                key = f"HTTP {response.status_code}"
                report.errors[key] = report.errors.get(key, 0) + 1

    sent = 0
    next_sample = started
    while (now := time.monotonic()) < started + report.seconds:
        if now >= next_sample:
            report.memory.append((now - started, resident_mb(pid)))
            if len(report.memory) % 6 == 1:
                progress(
                    f"soak: {now - started:4.0f} s, {len(report.answered)} plans, "
                    f"RSS {report.memory[-1][1]:.0f} MB"
                )
            next_sample += 10.0
        task = asyncio.create_task(one(1000.0 + sent % 4000))
        pending.add(task)
        task.add_done_callback(pending.discard)
        sent += 1
        await asyncio.sleep(max(0.0, started + sent * interval - time.monotonic()))
    await asyncio.gather(*pending)
    report.memory.append((time.monotonic() - started, resident_mb(pid)))


async def streams_through_shutdown(
    client: httpx.AsyncClient, report: SoakReport, stack: subprocess.Popen[bytes]
) -> None:
    """Start paced streams, then stop the stack like Ctrl-C: they must still end with `done`."""

    async def stream() -> bool:
        response = await client.post(
            "/api/v1/throttle/stream_throttle_steps",
            json=STATE_JSON,
            params={"tickIntervalMs": "150", "options.strategy": "STRATEGY_RANDOM", "options.maxTicks": "20"},
        )
        return response.status_code == 200 and "done" in response.json()[-1]

    streams = [asyncio.create_task(stream()) for _ in range(8)]
    report.streams_started = len(streams)
    await asyncio.sleep(0.5)
    stack.send_signal(signal.SIGINT)
    finished = await asyncio.gather(*streams, return_exceptions=True)
    report.streams_finished = sum(1 for ok in finished if ok is True)


def run(seconds: float, progress: Callable[[str], None]) -> SoakReport:
    # Envoy's rate limit would cap the capacity measurement: lift it for the soak.
    with running_stack(
        THROTTLING_RATE_LIMIT_PER_SECOND="100000", THROTTLING_RATE_LIMIT_BURST="100000"
    ) as stack:

        async def main() -> SoakReport:
            limits = httpx.Limits(max_connections=CONCURRENCY_CAP + 8)
            async with httpx.AsyncClient(base_url=stack.url, timeout=30, limits=limits) as client:
                for _ in range(300):  # Envoy marks the server healthy within a health interval
                    if (await client.get("/api/v1/health")).status_code == 200:
                        break
                    await asyncio.sleep(0.1)
                capacity = await measure_capacity(client)
                report = SoakReport(capacity, 0.8 * capacity, seconds)
                target = report.target_rate
                progress(f"soak: capacity {capacity:.0f} plans/s; {target:.0f}/s for {seconds:.0f} s")
                await soak(client, report, stack.process.pid, progress)
                await streams_through_shutdown(client, report, stack.process)
                return report

        report = asyncio.run(main())
        stack.process.wait(timeout=60)
        with sqlite3.connect(stack.data / "throttling.sqlite3") as db:
            stored = {row[0] for row in db.execute("SELECT id FROM plans")}
    report.stored = len(stored)
    report.missing = len(set(report.answered) - stored)
    return report


def render(r: SoakReport) -> str:
    ordered = sorted(r.latencies) or [float("nan")]
    p50, p99 = statistics.median(ordered), ordered[int(0.99 * (len(ordered) - 1))]
    memory = [mb for _, mb in r.memory]
    lines = [
        f"capacity (8 callers, REST via Envoy): {r.capacity:.0f} plans/s; soak target {r.target_rate:.0f}/s "
        f"for {r.seconds:.0f} s",
        f"answered {len(r.answered)} ({len(r.answered) / r.seconds:.0f}/s), errors {sum(r.errors.values())} "
        f"{r.errors or ''}",
        f"latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms",
        "server RSS MB over time: "
        + ", ".join(f"{t:.0f}s={mb:.0f}" for t, mb in r.memory[:: max(1, len(r.memory) // 8)]),
        f"RSS first {memory[0]:.0f} MB, last {memory[-1]:.0f} MB, max {max(memory):.0f} MB",
        f"graceful stop under load: {r.streams_finished}/{r.streams_started} in-flight streams finished "
        f"with done; answered plans stored {len(r.answered) - r.missing}/{len(r.answered)} "
        f"(missing {r.missing})",
    ]
    return "\n".join(lines)
