"""Fairness benchmark: how long past its budget a stopped plan runs, and what long plans cost a
default plan.

1. The exact planner with a 1 ms budget and max_ticks 1000 over the public scenarios (in
   process): wall and CPU time per plan (CPU time is what the planner did; wall time adds the
   waits of a shared machine), against the default plan's (max_ticks 100, unconstrained)
   measured in the same run.
2. A default plan over gRPC (an in-process server, memory store) with the server idle, then
   with four long genetic plans (max_ticks 1000, 60 s budget) running or queued in the long
   lane: latency p50/p99 and the ratio busy / idle.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc

from bench.planners import load_scenarios, quantile
from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.adapters.planners.exact import ExactPlanner
from throttling_sequencer.app import Application
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.ports import StopSignal
from throttling_sequencer.settings import Settings

LONG_PLANS = 4


@dataclass
class Timings:
    name: str
    seconds: list[float]
    #: The planning thread's CPU time per run, where it is known.
    cpu: list[float] | None = None

    def line(self, base: Timings | None = None) -> str:
        p50, p99, worst = (
            statistics.median(self.seconds),
            quantile(self.seconds, 0.99),
            max(self.seconds),
        )
        ratio = f"{p50 / statistics.median(base.seconds):>7.2f}x" if base else f"{'':>8}"
        cpu = f"{statistics.median(self.cpu) * 1000:.2f} / {max(self.cpu) * 1000:.2f}" if self.cpu else ""
        return (
            f"{self.name:<58} {len(self.seconds):>5} {p50 * 1000:>8.2f} {p99 * 1000:>8.2f} "
            f"{worst * 1000:>8.2f} {ratio} {cpu:>15}"
        )


def stop_overrun(quick: bool) -> list[Timings]:
    scenarios = load_scenarios()
    repeats = 2 if quick else 5
    planner = ExactPlanner()

    def timed(name: str, config: PlannerConfig) -> Timings:
        seconds, cpu = [], []
        for scenario in scenarios:
            for _ in range(repeats):
                started, used = time.perf_counter(), time.thread_time()
                planner.plan(
                    scenario.problem, config, StopSignal(time.monotonic() + config.time_budget_seconds)
                )
                seconds.append(time.perf_counter() - started)
                cpu.append(time.thread_time() - used)
        return Timings(name, seconds, cpu)

    return [
        timed("exact, default plan (max_ticks 100, unconstrained)", PlannerConfig()),
        timed("exact, 1 ms budget, max_ticks 1000", PlannerConfig(max_ticks=1000, time_budget_ms=1)),
    ]


def _state(distance: float = 5000.0) -> game_state_pb2.GameState:
    def unit(x: float, mass: float, friction: float) -> game_state_pb2.Unit:
        return game_state_pb2.Unit(
            coordinate=game_state_pb2.Coordinate(x=x, y=0), mass=mass, friction=friction
        )

    return game_state_pb2.GameState(player_units=[unit(0, 10, 0.01)], enemy_units=[unit(distance, 50, 0.5)])


async def _lanes(samples: int) -> list[Timings]:
    settings = Settings(grpc_port=0, database_url="memory://", log_level="WARNING", metrics_port=0)
    app = Application(settings)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = ThrottlingServiceStub(channel)
            request = pb.CreatePlanRequest(game_state=_state())

            async def latencies() -> list[float]:
                out = []
                for _ in range(samples):
                    started = time.perf_counter()
                    await stub.CreatePlan(request, timeout=120)
                    out.append(time.perf_counter() - started)
                return out

            idle = Timings("gRPC default plan, server idle", await latencies())
            # The longest GA search (~1 s of CPU): an unreachable target keeps its plans near 1,000
            # ticks; on the default payload the compiled GA is done in ~50 ms.
            options = planning_pb2.PlannerOptions(
                strategy=planning_pb2.STRATEGY_GENETIC,
                max_ticks=1000,
                max_throttle=10_000,
                time_budget_ms=60_000,
                seed=1,
            )
            far = _state(distance=1e9)
            long_plans = [
                stub.StreamPlanProgress(pb.StreamPlanProgressRequest(game_state=far, options=options))
                for _ in range(LONG_PLANS)
            ]
            running = long_plans[: settings.long_planner_threads]
            for call in running:  # the rest wait in the long lane
                await call.read()
            busy = Timings(
                f"gRPC default plan, {LONG_PLANS} long genetic plans running or queued", await latencies()
            )
            for call in long_plans:
                call.cancel()
            return [idle, busy]
    finally:
        await app.stop(grace=0.0)


def fairness_rows(quick: bool, progress: Callable[[str], None]) -> list[Timings]:
    progress("fairness: exact plans cut at 1 ms with max_ticks 1000")
    rows = stop_overrun(quick)
    progress(f"fairness: default plans while {LONG_PLANS} long genetic plans run")
    rows += asyncio.run(_lanes(10 if quick else 30))
    return rows


def render(rows: Sequence[Timings]) -> str:
    header = (
        f"{'case':<58} {'runs':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'vs base':>8} "
        f"{'CPU p50/max ms':>15}"
    )
    lines = [header, "-" * len(header)]
    default, cut, idle, busy = rows
    lines += [default.line(), cut.line(default), idle.line(), busy.line(idle)]
    return "\n".join(lines)
