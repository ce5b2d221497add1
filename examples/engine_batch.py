"""A game engine plans a whole squad in one call: every unit towards its nearest enemy, then a
few chosen pairs, one of them wrong on purpose to show a per-unit error.

Run against `make up`:  .venv/bin/python examples/engine_batch.py [HOST:PORT]
(default: THROTTLING_GRPC_HOST and THROTTLING_GRPC_PORT, as `make up` uses them; 127.0.0.1:50051)
"""

from __future__ import annotations

import os
import sys

import grpc

from throttling_client.google import rpc
from throttling_client.throttling import v1

#: Where `make up` serves gRPC: the same THROTTLING_* variables, the same defaults.
DEFAULT_TARGET = (
    f"{os.environ.get('THROTTLING_GRPC_HOST', '127.0.0.1')}:{os.environ.get('THROTTLING_GRPC_PORT', '50051')}"
)


def squad() -> v1.GameState:
    """Eight scouts in a column and three enemy outposts; a scout is light, an outpost heavy."""
    scouts = [
        v1.Unit(coordinate=v1.Coordinate(x=0, y=250 * k), speed=k % 3, mass=10 + k, friction=0.01)
        for k in range(8)
    ]
    outposts = [
        v1.Unit(coordinate=v1.Coordinate(x=x, y=y), mass=50, friction=0.5)
        for x, y in ((4000, 0), (2500, 900), (6000, 1800))
    ]
    return v1.GameState(player_units=scouts, enemy_units=outposts)


def show(result: v1.BatchResult) -> str:
    """One result: the unit planned and its plan, or why it has none."""
    pair = result.assignment
    # `is not None`: a message of zeros is falsy, and scout 0 -> outpost 0 is all zeros.
    who = f"scout {pair.player_index} -> outpost {pair.enemy_index}" if pair is not None else "scout ?"
    plan = result.plan
    if plan is not None and plan.score is not None:
        return f"{who}: {len(plan.goals):3} ticks, score {plan.score.total:8.4f}, {plan.arrival.name}"
    assert result.error is not None
    fields = [
        f"{v.field} ({v.description})"
        for detail in result.error.details
        if isinstance(found := detail.unpack(), rpc.BadRequest)
        for v in found.field_violations
    ]
    return f"{who}: not planned: {result.error.message}: {'; '.join(fields)}"


def main(target: str = DEFAULT_TARGET) -> None:
    state = squad()
    with grpc.insecure_channel(target) as channel:
        stub = v1.ThrottlingServiceStub(channel)
        # No assignments: every scout towards its nearest outpost, planned in parallel.
        everyone = stub.create_plan_batch(v1.CreatePlanBatchRequest(game_state=state))
        print(f"whole squad: {len(everyone.results)} plans")
        for result in everyone.results:
            print(" ", show(result))
        # Chosen pairs; the last names an outpost that does not exist: only that result fails.
        pairs = [v1.Assignment(player_index=0, enemy_index=0), v1.Assignment(player_index=7, enemy_index=2)]
        pairs.append(v1.Assignment(player_index=3, enemy_index=9))
        chosen = stub.create_plan_batch(
            v1.CreatePlanBatchRequest(
                game_state=state, assignments=pairs, options=v1.PlannerOptions(max_ticks=60)
            )
        )
        print("chosen pairs:")
        for result in chosen.results:
            print(" ", show(result))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.UNAVAILABLE:
            raise
        where = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_TARGET
        sys.exit(f"no server answers at {where}: start one with `make up` ({error.details()})")
