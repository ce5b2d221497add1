"""Throughput against the transport's floor: every row is a ratio to the gRPC health-check rate
measured in the same run, by the same client, against the same kind of server.

The server is started the way a user starts it (`throttling-sequencer serve`: default SQLite
storage in a temp data dir, default logging: INFO, JSON lines), one process unless a row says
otherwise. Load comes from one asyncio client process holding 16 concurrent calls over 8
connections; client and server share this machine's cores, so the figures are for the whole loop.

Rows (issue 12's targets in brackets):
- CreatePlan plans/s [>= 0.5x health checks/s];
- CreatePlanBatch of 100 units, unit plans/s [>= 5x];
- `serve --workers 2` CreatePlan plans/s against 1 worker [>= 1.5x];
- REST via Envoy and GraphQL via Envoy, p50 latency of a plan at 16 concurrent calls against
  direct gRPC's [<= 1.3x, <= 2x];
- server RSS growth over a soak of CreatePlan after a warm-up [<= 10 %].
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.frontdoor import STATE_JSON
from bench.service import free_port, requests, wait_serving
from bench.stack import running_stack
from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub

CONCURRENCY = 16
#: Connections the 16 calls share: `serve --workers N` balances connections (SO_REUSEPORT), not
#: calls, so a handful per worker.
CONNECTIONS = 8
BATCH_UNITS = 100
#: Plans this short cost the planner microseconds: their row measures the service around it.
TRIVIAL_TICKS = 3
TRIVIAL = planning_pb2.PlannerOptions(max_ticks=TRIVIAL_TICKS)
#: Where a server's log lines go while it is measured: written as by default, then discarded.
LOG_SINK = subprocess.DEVNULL

#: A call of the load: given a stub (or an HTTP client), one request; returns the units it planned.
Call = Callable[[Any], Awaitable[int]]


@dataclass
class Rate:
    """One load run: calls answered, units planned (a batch counts its units), errors, latencies."""

    name: str
    calls: int = 0
    units: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.units / self.seconds if self.seconds else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")


@dataclass
class Throughput:
    #: The median round's health checks.
    health: Rate
    rows: list[Row]


async def drive(
    name: str,
    clients: list[Any],
    call: Call,
    seconds: float,
    warmup: float = 1.0,
    concurrency: int = CONCURRENCY,
) -> Rate:
    """`concurrency` callers in a closed loop for `warmup` + `seconds`; only `seconds` is counted."""
    rate = Rate(name)
    began = time.monotonic()
    counting_from, stop_at = began + warmup, began + warmup + seconds

    async def caller(index: int) -> None:
        client = clients[index % len(clients)]
        while (now := time.monotonic()) < stop_at:
            started = time.perf_counter()
            try:
                units = await call(client)
            except (grpc.aio.AioRpcError, httpx.HTTPError):
                if now >= counting_from:
                    rate.errors += 1
                continue
            if now >= counting_from:
                rate.calls += 1
                rate.units += units
                rate.latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(caller(k) for k in range(concurrency)))
    rate.seconds = seconds
    return rate


async def grpc_load(port: int, name: str, call: Call, seconds: float, concurrency: int = CONCURRENCY) -> Rate:
    # Each channel its own connection (a local subchannel pool): SO_REUSEPORT balances connections.
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) for _ in range(CONNECTIONS)]
    try:
        return await drive(name, channels, call, seconds, concurrency=concurrency)
    finally:
        for channel in channels:
            await channel.close(grace=None)


def health_check() -> Call:
    request = health_pb2.HealthCheckRequest()

    async def call(channel: grpc.aio.Channel) -> int:
        await health_pb2_grpc.HealthStub(channel).Check(request, timeout=30)
        return 1

    return call


def create_plan(options: planning_pb2.PlannerOptions | None = None) -> Call:
    """CreatePlan over the public scenarios round-robin (with `options`, if given)."""
    bodies = requests()
    if options is not None:
        for body in bodies:
            body.options.CopyFrom(options)
    turn = 0

    async def call(channel: grpc.aio.Channel) -> int:
        nonlocal turn
        turn += 1
        await ThrottlingServiceStub(channel).CreatePlan(bodies[turn % len(bodies)], timeout=30)
        return 1

    return call


def batch_request(units: int = BATCH_UNITS) -> pb.CreatePlanBatchRequest:
    """A game state of `units` player units and as many enemies: the public scenarios round-robin,
    each player planned towards its own enemy."""
    bodies = requests()
    players, enemies = [], []
    for k in range(units):
        state = bodies[k % len(bodies)].game_state
        offset = game_state_pb2.Coordinate(x=0.0, y=1e7 * k)
        player, enemy = state.player_units[0], state.enemy_units[0]
        players.append(_moved(player, offset))
        enemies.append(_moved(enemy, offset))
    state = game_state_pb2.GameState(player_units=players, enemy_units=enemies)
    pairs = [pb.Assignment(player_index=k, enemy_index=k) for k in range(units)]
    return pb.CreatePlanBatchRequest(game_state=state, assignments=pairs)


def _moved(unit: game_state_pb2.Unit, by: game_state_pb2.Coordinate) -> game_state_pb2.Unit:
    moved = game_state_pb2.Unit()
    moved.CopyFrom(unit)
    moved.coordinate.x += by.x
    moved.coordinate.y += by.y
    return moved


def create_plan_batch() -> Call:
    request = batch_request()

    async def call(channel: grpc.aio.Channel) -> int:
        reply = await ThrottlingServiceStub(channel).CreatePlanBatch(request, timeout=60)
        return sum(1 for result in reply.results if result.HasField("plan"))

    return call


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    port: int


@contextmanager
def server(workers: int = 1, **env: str) -> Iterator[Server]:
    """`throttling-sequencer serve` as a user starts it, on a free port and a temp data dir."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("THROTTLING_")},
            "THROTTLING_GRPC_PORT": str(port),
            "THROTTLING_DATA_DIR": data,
            "THROTTLING_METRICS_PORT": "0",  # a fixed port otherwise; the metrics are still kept
            **env,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "throttling_sequencer.cli", "serve", "--workers", str(workers)],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=LOG_SINK,
        )
        try:
            wait_serving(port, timeout=120)
            yield Server(process, port)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Row:
    """A target's ratio, measured in rounds: the median round is shown, with the spread."""

    name: str
    target: str
    ratios: list[float] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)

    def add(self, ratio: float, figures: str) -> None:
        self.ratios.append(ratio)
        self.figures.append(figures)

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def shown_figures(self) -> str:
        """The figures of the round nearest the median."""
        nearest = min(range(len(self.ratios)), key=lambda k: abs(self.ratios[k] - self.median))
        return self.figures[nearest]


def throughput(quick: bool, progress: Callable[[str], None]) -> Throughput:
    """Every row but the soak is measured in rounds, its loads interleaved with its baseline's
    (the machine is shared: load that comes and goes then moves both sides of a ratio alike)."""
    seconds = 2.0 if quick else 4.0
    rounds = 2 if quick else 3
    soak_seconds = 20.0 if quick else 120.0
    plans = Row("CreatePlan plans/s vs health checks/s", ">= 0.5x")
    # The same calls with planning all but taken out (3 ticks: microseconds of search): what the
    # service's own path (transport, validation, storage, logging, mapping) allows.
    path = Row(f"  the same, {TRIVIAL_TICKS}-tick plans (the service path)", ">= 0.5x")
    batched = Row(f"CreatePlanBatch({BATCH_UNITS}) unit plans/s vs health", ">= 5x")
    workers = Row("serve --workers 2 vs 1, CreatePlan", ">= 1.5x")
    healths: list[Rate] = []
    # Both servers up at once; only the one being measured has load (an idle server costs
    # nothing but a health probe).
    with server() as one, server(workers=2) as two:
        for k in range(rounds):
            progress(f"throughput: round {k + 1}/{rounds}: health, CreatePlan, trivial, batch, 2 workers")
            health = asyncio.run(grpc_load(one.port, "health", health_check(), seconds))
            single = asyncio.run(grpc_load(one.port, "CreatePlan", create_plan(), seconds))
            trivial = asyncio.run(grpc_load(one.port, "CreatePlan trivial", create_plan(TRIVIAL), seconds))
            batch = asyncio.run(grpc_load(one.port, "CreatePlanBatch", create_plan_batch(), seconds))
            doubled = asyncio.run(grpc_load(two.port, "CreatePlan x2", create_plan(), seconds))
            healths.append(health)
            plans.add(single.per_second / health.per_second, _figures(single, health))
            path.add(trivial.per_second / health.per_second, _figures(trivial, health))
            batched.add(batch.per_second / health.per_second, _figures(batch, health))
            workers.add(
                doubled.per_second / single.per_second,
                f"{doubled.per_second:,.0f}/s vs {single.per_second:,.0f}/s",
            )
        progress(f"throughput: soak, CreatePlan for {soak_seconds:.0f} s after the rounds warmed it up")
        before = resident_mb(one.process.pid)
        soaked = asyncio.run(grpc_load(one.port, "soak", create_plan(), soak_seconds))
        after = resident_mb(one.process.pid)
    soak = Row("server RSS growth over the soak", "<= 10 %")
    soak.add(after / before - 1.0, f"{before:.0f} MB -> {after:.0f} MB over {soaked.calls:,} plans")
    base = sorted(healths, key=lambda r: r.per_second)[len(healths) // 2]
    return Throughput(
        base, [plans, path, batched, soak, workers, *front_door_rows(seconds, rounds, progress)]
    )


def _figures(rate: Rate, health: Rate) -> str:
    return (
        f"{rate.per_second:,.0f}/s vs {health.per_second:,.0f} checks/s, p50 {rate.p50 * 1000:.1f} ms, "
        f"errors {rate.errors}"
    )


def front_door_rows(seconds: float, rounds: int, progress: Callable[[str], None]) -> list[Row]:
    """p50 of a plan by direct gRPC, REST via Envoy and GraphQL via Envoy: at CONCURRENCY calls
    (where the server's queue sets every path's p50), and one call at a time (what each hop adds,
    as the front-door table measures it)."""
    state = json_format.ParseDict(STATE_JSON, game_state_pb2.GameState())
    request = pb.CreatePlanRequest(game_state=state)
    mutation = (
        "mutation { plan(gameStateInput: {"
        "playerUnits: [{coordinate: {x: 0, y: 0}, speed: 0, mass: 10, friction: 0.01}], "
        "enemyUnits: [{coordinate: {x: 5000, y: 0}, speed: 0, mass: 50, friction: 0.5}]"
        "}) { id score { total } goals { throttle } } }"
    )

    async def direct(channel: grpc.aio.Channel) -> int:
        await ThrottlingServiceStub(channel).CreatePlan(request, timeout=30)
        return 1

    async def rest(client: httpx.AsyncClient) -> int:
        (await client.post("/api/v1/plans", json={"gameState": STATE_JSON})).raise_for_status()
        return 1

    async def graphql(client: httpx.AsyncClient) -> int:
        reply = (await client.post("/graphql", json={"query": mutation})).raise_for_status()
        if reply.json().get("errors"):
            raise httpx.HTTPError(str(reply.json()["errors"]))
        return 1

    async def over_http(url: str, call: Call, name: str, concurrency: int) -> Rate:
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
            for _ in range(600):  # Envoy marks the server healthy within a health interval
                if (await client.get("/api/v1/health")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            return await drive(name, [client], call, seconds, concurrency=concurrency)

    rows: dict[tuple[str, int], Row] = {}
    for concurrency, how in ((CONCURRENCY, f"{CONCURRENCY} concurrent"), (1, "sequential")):
        rows["REST", concurrency] = Row(f"REST via Envoy p50 vs direct gRPC, {how}", "<= 1.3x")
        rows["GraphQL", concurrency] = Row(f"GraphQL via Envoy p50 vs direct gRPC, {how}", "<= 2x")
    unlimited = {"THROTTLING_RATE_LIMIT_PER_SECOND": "100000", "THROTTLING_RATE_LIMIT_BURST": "100000"}
    with running_stack(**unlimited) as stack:
        for k in range(rounds):
            progress(f"throughput: front door round {k + 1}/{rounds}: direct gRPC, REST, GraphQL")
            for concurrency in (CONCURRENCY, 1):
                base = asyncio.run(grpc_load(stack.grpc_port, "direct", direct, seconds, concurrency))
                for name, call in (("REST", rest), ("GraphQL", graphql)):
                    rate = asyncio.run(over_http(stack.url, call, name, concurrency))
                    rows[name, concurrency].add(
                        rate.p50 / base.p50,
                        f"{rate.p50 * 1000:.1f} ms vs {base.p50 * 1000:.1f} ms ({rate.per_second:,.0f}/s vs "
                        f"{base.per_second:,.0f}/s, errors {rate.errors})",
                    )
    return list(rows.values())


def render(report: Throughput) -> str:
    h = report.health
    lines = [
        f"baseline: gRPC health checks {h.per_second:,.0f}/s in the median round (p50 {h.p50 * 1000:.2f} ms, "
        f"errors {h.errors}), {CONCURRENCY} concurrent calls over {CONNECTIONS} connections, one client "
        "process; each ratio is taken within a round",
        "",
    ]
    header = f"{'row (median of rounds)':<48} {'ratio':>8} {'rounds':>13} {'target':>9}  figures"
    lines += [header, "-" * len(header)]
    for row in report.rows:
        percent = row.target.endswith("%")

        def shown(ratio: float, percent: bool = percent) -> str:
            return f"{ratio * 100:+.1f} %" if percent else f"{ratio:.2f}x"

        spread = f"{shown(min(row.ratios))}-{shown(max(row.ratios))}" if len(row.ratios) > 1 else ""
        lines.append(
            f"{row.name:<48} {shown(row.median):>8} {spread:>13} {row.target:>9}  {row.shown_figures}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(throughput("--quick" in sys.argv, lambda m: print(m, file=sys.stderr))))
