"""Front-door benchmark: one plan by direct gRPC, REST via Envoy, and GraphQL via Envoy.

Runs `make up`'s stack (python -m bridge.stack) on free ports and times sequential calls with
the same payload, so the ratios show what each extra hop costs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import httpx
from google.protobuf import json_format

from bench.stack import running_stack
from throttling.v1 import game_state_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub

STATE_JSON = {
    "player_units": [{"coordinate": {"x": 0, "y": 0}, "speed": 0, "mass": 10, "friction": 0.01}],
    "enemy_units": [{"coordinate": {"x": 5000, "y": 0}, "speed": 0, "mass": 50, "friction": 0.5}],
}
QUERY = """query { calculateThrottleSteps(gameStateInput: {
  playerUnits: [{coordinate: {x: 0, y: 0}, speed: 0, mass: 10, friction: 0.01}]
  enemyUnits: [{coordinate: {x: 5000, y: 0}, speed: 0, mass: 50, friction: 0.5}]
}) { coordinate { x y } throttle } }"""


@dataclass
class Route:
    name: str
    latencies: list[float]


def timed(call: Callable[[], object], count: int) -> list[float]:
    for _ in range(5):  # warm up connections and caches
        call()
    out = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def frontdoor_rows(quick: bool, progress: Callable[[str], None]) -> list[Route]:
    count = 100 if quick else 400
    state = json_format.ParseDict(STATE_JSON, game_state_pb2.GameState())
    request = pb.CalculateThrottleStepsRequest(game_state=state)
    with running_stack() as stack, httpx.Client(base_url=stack.url, timeout=30) as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if (
                    client.get("/api/v1/health").status_code == 200
                    and client.get("/graphql").status_code < 500
                ):
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        progress(f"front door: {count} sequential calls per path")
        with grpc.insecure_channel(f"127.0.0.1:{stack.grpc_port}") as channel:
            stub = ThrottlingServiceStub(channel)
            direct = timed(lambda: stub.CalculateThrottleSteps(request), count)
        calculate = "/api/v1/throttle/calculate_throttle_steps"
        rest = timed(lambda: client.post(calculate, json=STATE_JSON).raise_for_status(), count)
        graphql = timed(lambda: client.post("/graphql", json={"query": QUERY}).raise_for_status(), count)
    return [Route("gRPC direct", direct), Route("REST via Envoy", rest), Route("GraphQL via Envoy", graphql)]


def render(rows: list[Route]) -> str:
    base = statistics.median(rows[0].latencies)
    header = f"{'path':<20} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'p50 vs gRPC':>12}"
    lines = [header, "-" * len(header)]
    for row in rows:
        ordered = sorted(row.latencies)
        p50, p99 = statistics.median(ordered), ordered[int(0.99 * (len(ordered) - 1))]
        lines.append(
            f"{row.name:<20} {len(ordered):>6} {p50 * 1000:>8.2f} {p99 * 1000:>8.2f} {p50 / base:>11.2f}x"
        )
    return "\n".join(lines)
