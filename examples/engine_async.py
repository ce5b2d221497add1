"""An asyncio game server's client (betterproto2 over grpclib): watch the planner improve a plan.

Run against `make up`:  .venv/bin/python examples/engine_async.py [HOST PORT]
(default: THROTTLING_GRPC_HOST and THROTTLING_GRPC_PORT, as `make up` uses them; 127.0.0.1 50051)
"""

from __future__ import annotations

import asyncio
import os
import sys

from grpclib.client import Channel

from throttling_client.throttling import v1

#: Where `make up` serves gRPC: the same THROTTLING_* variables, the same defaults.
HOST = os.environ.get("THROTTLING_GRPC_HOST", "127.0.0.1")
PORT = os.environ.get("THROTTLING_GRPC_PORT", "50051")


async def main(host: str = HOST, port: str = PORT) -> None:
    me = v1.Unit(coordinate=v1.Coordinate(x=0, y=0), speed=0, mass=10, friction=0.01)
    enemy = v1.Unit(coordinate=v1.Coordinate(x=5000, y=0), speed=0, mass=50, friction=0.5)
    request = v1.StreamPlanProgressRequest(
        game_state=v1.GameState(player_units=[me], enemy_units=[enemy]),
        options=v1.PlannerOptions(strategy=v1.Strategy.GENETIC, time_budget_ms=500, seed=7),
    )
    channel = Channel(host, int(port))
    try:
        stub = v1.ThrottlingServiceAsyncStub(channel)
        async for event in stub.stream_plan_progress(request):
            if event.progress is not None and event.progress.score is not None:
                print(f"generation {event.progress.iteration:3}: score {event.progress.score.total:10.3f}")
            elif event.done is not None and event.done.score is not None:
                print(f"stored {event.done.plan_id}: score {event.done.score.total:.3f}")
    finally:
        channel.close()


if __name__ == "__main__":
    try:
        asyncio.run(main(*sys.argv[1:]))
    except OSError as error:  # grpclib: the connection itself failed
        where = ":".join(sys.argv[1:3]) or f"{HOST}:{PORT}"
        sys.exit(f"no server answers at {where}: start one with `make up` ({error})")
