"""Builders and process helpers shared by the tests."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

from throttling.v1 import game_state_pb2
from throttling_sequencer.domain.model import Coordinate, GameState, Problem, Unit

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")


def stop_process(process: subprocess.Popen[Any], timeout: float = 10.0) -> int:
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

    return logged
