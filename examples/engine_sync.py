"""A game engine's synchronous client: plan a move, then follow it tick by tick.

Run against `make up`:  .venv/bin/python examples/engine_sync.py [HOST:PORT]
(default: THROTTLING_GRPC_HOST and THROTTLING_GRPC_PORT, as `make up` uses them; 127.0.0.1:50051)
"""

from __future__ import annotations

import os
import sys

import grpc

from throttling_client.throttling import v1

#: Where `make up` serves gRPC: the same THROTTLING_* variables, the same defaults.
DEFAULT_TARGET = (
    f"{os.environ.get('THROTTLING_GRPC_HOST', '127.0.0.1')}:{os.environ.get('THROTTLING_GRPC_PORT', '50051')}"
)


def main(target: str = DEFAULT_TARGET) -> None:
    me = v1.Unit(coordinate=v1.Coordinate(x=0, y=0), speed=0, mass=10, friction=0.01)
    enemy = v1.Unit(coordinate=v1.Coordinate(x=3000, y=4000), speed=0, mass=50, friction=0.5)
    state = v1.GameState(player_units=[me], enemy_units=[enemy])
    with grpc.insecure_channel(target) as channel:
        stub = v1.ThrottlingServiceStub(channel)
        plan = stub.create_plan(v1.CreatePlanRequest(game_state=state)).plan
        assert plan is not None and plan.score is not None
        gap = plan.optimality_gap
        print(f"plan {plan.plan_id}: score {plan.score.total:.4f}, gap <= {gap:.2g}, {plan.arrival}")
        # Or stream it, paced like a game loop (every 50 ms):
        request = v1.StreamThrottleStepsRequest(game_state=state, tick_interval_ms=50)
        for message in stub.stream_throttle_steps(request):
            tick = message.tick
            if tick is not None and tick.goal is not None:
                print(f"tick {tick.tick:3}: throttle {tick.goal.throttle:3}, speed {tick.speed:7.2f}")
            elif message.done is not None:
                print(f"done: {message.done.total_ticks} ticks")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.UNAVAILABLE:
            raise
        where = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_TARGET
        sys.exit(f"no server answers at {where}: start one with `make up` ({error.details()})")
