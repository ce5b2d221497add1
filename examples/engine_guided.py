"""A game engine steered by the server, tick by tick, against the same unit left to its plan.

The simulated unit's real friction is off from what the game state says (by up to 25 %) and it
gets pushed once. Open-loop, the engine follows a stored plan to the letter; guided, it reports
where the unit really is after every tick (the Guide stream) and applies the throttle the server
answers, re-planned whenever the unit drifted. Both arrivals are printed side by side.

Run against `make up`:  .venv/bin/python examples/engine_guided.py [HOST:PORT] [SEED]
(default: THROTTLING_GRPC_HOST and THROTTLING_GRPC_PORT, as `make up` uses them; 127.0.0.1:50051;
the seed picks the friction error and the push)
"""

from __future__ import annotations

import math
import os
import queue
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from throttling_client.throttling import v1

#: Where `make up` serves gRPC: the same THROTTLING_* variables, the same defaults.
DEFAULT_TARGET = (
    f"{os.environ.get('THROTTLING_GRPC_HOST', '127.0.0.1')}:{os.environ.get('THROTTLING_GRPC_PORT', '50051')}"
)
SPEED_THRESHOLD = 5.0


@dataclass
class Disturbance:
    """How the real unit differs from its model: its friction, and one push after `push_tick`."""

    friction: float
    push_tick: int
    push_speed: float
    push_shove: float

    @classmethod
    def draw(cls, seed: int, friction: float, ticks: int) -> Disturbance:
        rng = random.Random(seed)
        return cls(
            friction=min(0.95, friction * rng.uniform(0.75, 1.25)),
            push_tick=rng.randint(1, max(1, ticks - 1)),
            push_speed=rng.uniform(-3.0, 3.0),
            push_shove=rng.uniform(-3.0, 3.0),
        )


class Unit:
    """The game's unit: the planner's physics with the real friction, along its line to the target."""

    def __init__(self, state: v1.GameState, disturbance: Disturbance) -> None:
        me, target = state.player_units[0], state.enemy_units[0]
        assert me.coordinate is not None and target.coordinate is not None
        self.mass, self.speed, self.d = me.mass, me.speed, disturbance
        self.x, self.y = me.coordinate.x, me.coordinate.y
        self.target = (target.coordinate.x, target.coordinate.y)
        length = math.hypot(self.target[0] - self.x, self.target[1] - self.y)
        self.direction = ((self.target[0] - self.x) / length, (self.target[1] - self.y) / length)
        self.tick = 0

    def step(self, throttle: int) -> v1.Observation:
        self.tick += 1
        self.speed = (self.speed + throttle / self.mass) * (1 - self.d.friction)
        moved = self.speed
        if self.tick == self.d.push_tick:  # a collision or an explosion
            self.speed = max(0.0, self.speed + self.d.push_speed)
            moved += self.d.push_shove
        self.x += moved * self.direction[0]
        self.y += moved * self.direction[1]
        return v1.Observation(tick=self.tick, coordinate=v1.Coordinate(x=self.x, y=self.y), speed=self.speed)

    @property
    def miss(self) -> float:
        """Distance left along the line to the target (negative past it)."""
        return (self.target[0] - self.x) * self.direction[0] + (self.target[1] - self.y) * self.direction[1]


def open_loop(stub: v1.ThrottlingServiceStub, state: v1.GameState, disturbance: Disturbance) -> Unit:
    """Plan once, then apply the plan's throttles whatever happens."""
    plan = stub.create_plan(v1.CreatePlanRequest(game_state=state)).plan
    assert plan is not None
    unit = Unit(state, disturbance)
    for goal in plan.goals:
        unit.step(goal.throttle)
    return unit


def guided(stub: v1.ThrottlingServiceStub, state: v1.GameState, disturbance: Disturbance) -> tuple[Unit, int]:
    """Start a Guide session, then report each tick and apply the throttle answered for the next.

    The sync client sends what an iterator yields; a queue lets the loop below feed it.
    """
    unit = Unit(state, disturbance)
    reports: queue.Queue[v1.GuideRequest | None] = queue.Queue()
    reports.put(v1.GuideRequest(start=v1.GuideStart(game_state=state)))

    def messages() -> Iterator[v1.GuideRequest]:
        while (message := reports.get()) is not None:
            yield message

    replans = 0
    try:
        for answer in stub.guide(messages()):
            replans += answer.replanned
            reports.put(v1.GuideRequest(observation=unit.step(answer.throttle)))
            if answer.done:  # its observation is the last message: close our side after it
                reports.put(None)
    finally:
        reports.put(None)  # however the call ended, let the sending thread finish
    return unit, replans


def main(target: str = DEFAULT_TARGET, seed: str = "7") -> None:
    me = v1.Unit(coordinate=v1.Coordinate(x=0, y=0), speed=0, mass=10, friction=0.1)
    enemy = v1.Unit(coordinate=v1.Coordinate(x=1800, y=2400), speed=0, mass=50, friction=0.5)
    state = v1.GameState(player_units=[me], enemy_units=[enemy])
    with grpc.insecure_channel(target) as channel:
        stub = v1.ThrottlingServiceStub(channel)
        ticks = len(stub.calculate_throttle_steps(v1.CalculateThrottleStepsRequest(game_state=state)).goals)
        disturbance = Disturbance.draw(int(seed), me.friction, ticks)
        print(
            f"real friction {disturbance.friction:.4f} (the game state says {me.friction}); "
            f"pushed after tick {disturbance.push_tick}: speed {disturbance.push_speed:+.2f}, "
            f"moved {disturbance.push_shove:+.2f}"
        )
        blind = open_loop(stub, state, disturbance)
        steered, replans = guided(stub, state, disturbance)
    print(f"{'':10} {'ticks':>5} {'miss':>10} {'final speed':>12}  arrived")
    for name, unit in (("open-loop", blind), ("guided", steered)):
        arrived = abs(unit.miss) <= 1.0 and unit.speed <= SPEED_THRESHOLD + 1.0
        print(f"{name:10} {unit.tick:5} {unit.miss:10.3f} {unit.speed:12.3f}  {'yes' if arrived else 'no'}")
    print(f"guided: {replans} re-plans")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.UNAVAILABLE:
            raise
        where = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_TARGET
        sys.exit(f"no server answers at {where}: start one with `make up` ({error.details()})")
