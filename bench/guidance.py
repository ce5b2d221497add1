"""Guidance benchmark: one Guide tick (an observation in, the next throttle out) against a gRPC
health check, the cheapest round trip the server answers, measured in turns on one connection.

The server runs as `throttling-sequencer serve` (SQLite store in a temp dir). Sessions guide the
public scenarios whose plan arrives, each with a seeded disturbance (friction off by up to 25 %,
one push), so the ticks include the re-plans a real session makes. The target: a tick's p50 at
most twice a health check's.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.planners import SCENARIOS, quantile
from bench.service import served
from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub

#: A tick's p50 may be at most this many health checks' p50 (issue 13).
TARGET_RATIO = 2.0
EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]


@dataclass
class Timings:
    health: list[float] = field(default_factory=list)
    ticks: list[float] = field(default_factory=list)
    replanned: list[float] = field(default_factory=list)
    sessions: int = 0


class _Unit:
    """The unit as the game sees it: its real friction, pushed once."""

    def __init__(self, state: game_state_pb2.GameState, rng: random.Random, ticks: int) -> None:
        me, target = state.player_units[0], state.enemy_units[0]
        self.mass, self.speed = me.mass, me.speed
        self.friction = min(0.95, me.friction * rng.uniform(0.75, 1.25))
        self.push_tick, self.push = rng.randint(1, max(1, ticks - 1)), rng.uniform(-3.0, 3.0)
        self.x, self.y = me.coordinate.x, me.coordinate.y
        dx, dy = target.coordinate.x - self.x, target.coordinate.y - self.y
        length = math.hypot(dx, dy) or 1.0
        self.direction = (dx / length, dy / length)
        self.tick = 0

    def step(self, throttle: int) -> pb.GuideRequest:
        self.tick += 1
        self.speed = (self.speed + throttle / self.mass) * (1 - self.friction)
        if self.tick == self.push_tick:
            self.speed = max(0.0, self.speed + self.push)
        self.x += self.speed * self.direction[0]
        self.y += self.speed * self.direction[1]
        at = game_state_pb2.Coordinate(x=self.x, y=self.y)
        return pb.GuideRequest(observation=pb.Observation(tick=self.tick, coordinate=at, speed=self.speed))


async def _session(
    stub: ThrottlingServiceStub, state: game_state_pb2.GameState, unit: _Unit, out: Timings
) -> None:
    call = stub.Guide(timeout=60)
    await call.write(pb.GuideRequest(start=pb.GuideStart(game_state=state)))
    answer = await call.read()
    while answer is not EOF:
        assert isinstance(answer, pb.GuideResponse)
        observation = unit.step(answer.throttle)
        started = time.perf_counter()
        await call.write(observation)
        if answer.done:
            await call.done_writing()
            answer = await call.read()
            continue
        answer = await call.read()
        seconds = time.perf_counter() - started
        out.ticks.append(seconds)
        if isinstance(answer, pb.GuideResponse) and answer.replanned:
            out.replanned.append(seconds)
    out.sessions += 1


async def _measure(port: int, rounds: int) -> Timings:
    arriving = []
    out = Timings()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub, health = ThrottlingServiceStub(channel), health_pb2_grpc.HealthStub(channel)
        for item in json.loads(SCENARIOS.read_text())["scenarios"]:
            state = json_format.ParseDict(item["game_state"], game_state_pb2.GameState())
            plan = (await stub.CreatePlan(pb.CreatePlanRequest(game_state=state))).plan
            if plan.arrival == planning_pb2.ARRIVAL_ON_TARGET:
                arriving.append((item["name"], state, len(plan.goals)))
        for round_ in range(rounds):
            for name, state, ticks in arriving:
                # In turns: as many health checks as the session has ticks, then the session.
                for _ in range(ticks):
                    started = time.perf_counter()
                    await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
                    out.health.append(time.perf_counter() - started)
                rng = random.Random(f"{name}-{round_}")
                await _session(stub, state, _Unit(state, rng, ticks), out)
    return out


def guidance_timings(quick: bool, progress: Callable[[str], None]) -> Timings:
    rounds = 1 if quick else 3
    with served() as (port, _):
        progress(f"guidance: {rounds} round(s) of the arriving public scenarios, beside health checks")
        return asyncio.run(_measure(port, rounds))


def render(t: Timings) -> str:
    base = statistics.median(t.health)
    columns = [("what", 26), ("n", 7), ("p50 ms", 8), ("p90 ms", 8), ("p99 ms", 8), ("p50 vs health", 13)]
    header = " ".join(
        f"{name:>{width}}" if i else f"{name:<{width}}" for i, (name, width) in enumerate(columns)
    )
    lines = [header, "-" * len(header)]
    for what, values in (
        ("health Check (baseline)", t.health),
        ("Guide tick", t.ticks),
        ("Guide tick, re-planned", t.replanned),
    ):
        if not values:
            continue
        p50 = statistics.median(values)
        lines.append(
            f"{what:<26} {len(values):>7} {p50 * 1000:>8.3f} {quantile(values, 0.9) * 1000:>8.3f} "
            f"{quantile(values, 0.99) * 1000:>8.3f} {p50 / base:>12.2f}x"
        )
    ratio = statistics.median(t.ticks) / base
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    lines.append(
        f"\n{t.sessions} sessions. Target: a tick's p50 <= {TARGET_RATIO:g}x a health check's p50: "
        f"{ratio:.2f}x, {verdict}."
    )
    return "\n".join(lines)
