"""Builders and process helpers shared by the tests."""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.app import Application
from throttling_sequencer.domain.model import Coordinate, GameState, Problem, Unit
from throttling_sequencer.settings import Settings

T = TypeVar("T")

#: The earlier service's default payload (its REST docs' example).
DEFAULT_STATE_JSON: dict[str, Any] = {
    "player_units": [{"coordinate": {"x": 0, "y": 0}, "speed": 0, "mass": 10, "friction": 0.01}],
    "enemy_units": [{"coordinate": {"x": 5000, "y": 0}, "speed": 0, "mass": 50, "friction": 0.5}],
}


def game_state(
    distance: float = 5000.0, speed: float = 0.0, mass: float = 10.0, friction: float = 0.01
) -> GameState:
    return GameState(
        player_units=(Unit(Coordinate(0.0, 0.0), speed, mass, friction),),
        enemy_units=(Unit(Coordinate(distance, 0.0), 0.0, 50.0, 0.5),),
    )


def problem(
    distance: float = 5000.0, speed: float = 0.0, mass: float = 10.0, friction: float = 0.01
) -> Problem:
    return Problem.from_game_state(game_state(distance, speed, mass, friction))


def game_state_pb(
    distance: float = 5000.0, speed: float = 0.0, mass: float = 10.0, friction: float = 0.01
) -> game_state_pb2.GameState:
    return game_state_pb2.GameState(
        player_units=[
            game_state_pb2.Unit(
                coordinate=game_state_pb2.Coordinate(x=0, y=0), speed=speed, mass=mass, friction=friction
            )
        ],
        enemy_units=[
            game_state_pb2.Unit(coordinate=game_state_pb2.Coordinate(x=distance, y=0), mass=50, friction=0.5)
        ],
    )


#: The longest search there is, bounded by generations, not by the budget: 300 generations of
#: plans near 1,000 ticks, as an unreachable target keeps them (~1 s of CPU for the compiled GA;
#: on the default payload its plans shrink to a few dozen ticks and it is done in ~50 ms).
LONGEST = planning_pb2.PlannerOptions(
    strategy=planning_pb2.STRATEGY_GENETIC, max_ticks=1_000, max_throttle=10_000, time_budget_ms=60_000
)
#: A target out of reach: plans stay near max_ticks long.
FAR = game_state_pb(distance=1e9)


def child_environment(**changes: str) -> dict[str, str]:
    """The environment for a server process a test starts: this one's, without the developer's
    THROTTLING_* settings, with no metrics endpoint (a fixed port) and JSON logs; plus changes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THROTTLING_")}
    return {**env, "THROTTLING_METRICS_PORT": "0", "THROTTLING_LOG_FORMAT": "json", **changes}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


#: How long a readiness wait polls before it fails: long, because a loaded machine (8 engineers
#: on 2 cores) is slow to start processes; the wait ends as soon as the condition holds.
READY_WITHIN_SECONDS = 60.0
POLL_SECONDS = 0.05
#: A call's deadline when the deadline is not what a test checks: far beyond any answer on a
#: loaded machine, so reaching it means a hang, never load.
HANG_GUARD_SECONDS = 120.0


class NotReady(AssertionError):
    """A readiness wait ran out of time: the message says what never happened."""


def wait_until(
    condition: Callable[[], bool],
    timeout: float = READY_WITHIN_SECONDS,
    interval: float = POLL_SECONDS,
    *,
    what: str = "",
) -> None:
    """Poll `condition` until it holds; raise NotReady naming `what` if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise NotReady(f"timed out after {timeout:g} s waiting for {what or _describe(condition)}")
        time.sleep(interval)


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]],
    what: str,
    within: float = READY_WITHIN_SECONDS,
    interval: float = POLL_SECONDS,
) -> None:
    """The asyncio readiness wait: poll `condition` (plain or async) until it holds, else raise
    NotReady saying what never happened. Use it instead of a bare loop, which can fall through
    silently, and instead of a sleep, which is either too short under load or wastes time."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise NotReady(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(interval)


async def within(awaitable: Awaitable[T], what: str, seconds: float = READY_WITHIN_SECONDS) -> T:
    """Await `awaitable` as a readiness wait: past `seconds` it fails with NotReady saying what
    never happened (asyncio.wait_for alone fails with a bare TimeoutError that says nothing)."""
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise NotReady(f"timed out after {seconds:g} s waiting for {what}") from None


def _describe(condition: Callable[..., object]) -> str:
    return getattr(condition, "__name__", None) or repr(condition)


async def grpc_serving(target: str, service: str = "") -> bool:
    """A readiness condition: the gRPC health service at `target` answers SERVING."""
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=5
            )
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def answers_200(client: httpx.AsyncClient, url: str) -> bool:
    """A readiness condition: `url` answers 200 (a refused connection is not ready yet)."""
    try:
        return (await client.get(url)).status_code == 200
    except httpx.TransportError:
        return False


def process_tree(root: int) -> list[int]:
    """`root` and every live descendant, from /proc (no psutil); zombies are not counted."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            children.setdefault(int(ppid), []).append(int(entry.name))
    tree, queue = [], [root] if Path(f"/proc/{root}").exists() else []
    while queue:
        pid = queue.pop()
        tree.append(pid)
        queue.extend(children.get(pid, []))
    return tree


def stop_process(process: subprocess.Popen[Any], timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`; the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def rpc_logged(records: list[Any], method_suffix: str, status: str) -> Callable[[], bool]:
    """A condition: the server logged an RPC of this method ending with this status."""

    def logged() -> bool:
        return any(
            r["message"] == "rpc"
            and r["extra"]["method"].endswith(method_suffix)
            and r["extra"]["status"] == status
            for r in records
        )

    logged.__name__ = f"the server to log {method_suffix} ending {status}"
    return logged


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Application, ThrottlingServiceStub]]:
    """A server of its own, started, and a stub on one channel to it; stopped afterwards."""
    app = Application(settings)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            yield app, ThrottlingServiceStub(channel)
    finally:
        await app.stop()
