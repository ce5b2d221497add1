"""A simulated game unit for guidance tests, and the game loop that drives a Guide session.

The unit moves by the planner's physics along its start-to-target line, with its own friction
(the model's may be wrong) and at most one push: a change of speed and a shove along the line
after one tick, as a collision or an explosion would give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import grpc

from tests.support import HANG_GUARD_SECONDS
from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub

#: What a stream call's read() returns once the server has ended the call (untyped in grpc's stubs).
EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Push:
    """After `tick`, the speed changes by `speed` (never below 0) and the unit moves `shove`
    along the line (negative: back)."""

    tick: int
    speed: float = 0.0
    shove: float = 0.0


class SimulatedUnit:
    def __init__(
        self, state: game_state_pb2.GameState, friction: float | None = None, push: Push | None = None
    ) -> None:
        unit, target = state.player_units[0], state.enemy_units[0]
        self.mass = unit.mass
        self.friction = unit.friction if friction is None else friction
        self.push = push
        self.x, self.y = unit.coordinate.x, unit.coordinate.y
        self.speed = unit.speed
        self.target = (target.coordinate.x, target.coordinate.y)
        dx, dy = self.target[0] - self.x, self.target[1] - self.y
        length = math.hypot(dx, dy)
        self.direction = (dx / length, dy / length) if length else (1.0, 0.0)
        self.tick = 0

    def step(self, throttle: int) -> pb.Observation:
        """Apply one tick's throttle; the observation the game sends after it."""
        self.tick += 1
        self.speed = (self.speed + throttle / self.mass) * (1 - self.friction)
        self._move(self.speed)
        if self.push is not None and self.tick == self.push.tick:
            self.speed = max(0.0, self.speed + self.push.speed)
            self._move(self.push.shove)
        return pb.Observation(
            tick=self.tick, coordinate=game_state_pb2.Coordinate(x=self.x, y=self.y), speed=self.speed
        )

    @property
    def remaining(self) -> float:
        """Distance left along the start-to-target line (negative past the target)."""
        return (self.target[0] - self.x) * self.direction[0] + (self.target[1] - self.y) * self.direction[1]

    def _move(self, distance: float) -> None:
        self.x += distance * self.direction[0]
        self.y += distance * self.direction[1]


def start(state: game_state_pb2.GameState, **options: Any) -> pb.GuideRequest:
    return pb.GuideRequest(
        start=pb.GuideStart(game_state=state, options=planning_pb2.PlannerOptions(**options))
    )


async def guide(
    stub: ThrottlingServiceStub, first: pb.GuideRequest, unit: SimulatedUnit, **call: Any
) -> list[pb.GuideResponse]:
    """A game loop: start, then apply each answered throttle and report what happened, until the
    server ends the call (after the observation of the `done` tick). Raises AioRpcError."""
    session = stub.Guide(**({"timeout": HANG_GUARD_SECONDS} | call))
    await session.write(first)
    answers: list[pb.GuideResponse] = []
    while (answer := await session.read()) is not EOF:
        answers.append(answer)
        await session.write(pb.GuideRequest(observation=unit.step(answer.throttle)))
        if answer.done:  # its observation is the last message: close our side after it
            await session.done_writing()
    assert await session.code() == grpc.StatusCode.OK
    return answers
