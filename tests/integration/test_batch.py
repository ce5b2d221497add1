"""CreatePlanBatch through a real grpc.aio server: many units of one game state in one call.

Every result is checked against what CreatePlan answers for the same two units and options; bad
units fail only their own results, with violations naming them; the limits refuse a batch as a
whole with a clear message; the batch is planned fairly beside other callers, stored in one write,
and stops (storing nothing) when cancelled or out of time.
"""

from __future__ import annotations

import asyncio
import importlib
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format

from tests.conftest import envoy_process, make_settings
from tests.integration.test_fair_planning import HELD_SEED, HeldGenetic, PermitGenetic
from tests.issuer import Issuer, bearer
from tests.rpc_errors import field_violations, status_violations
from tests.support import HANG_GUARD_SECONDS, wait_for
from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer import container
from throttling_sequencer.adapters.storage.memory import InMemoryPlanRepository
from throttling_sequencer.app import Application
from throttling_sequencer.domain.model import Plan
from throttling_sequencer.domain.ports import PlanRepository
from throttling_sequencer.service.lanes import FairLane, PlanningLanes

EXACT = planning_pb2.PlannerOptions()
RANDOM = planning_pb2.PlannerOptions(strategy=planning_pb2.STRATEGY_RANDOM, seed=23)
GENETIC = planning_pb2.PlannerOptions(strategy=planning_pb2.STRATEGY_GENETIC, seed=5, max_ticks=30)
#: Fields a plan has that depend on when and for whom it was made, not on what was planned.
PER_CALL = ("plan_id", "create_time", "request_id", "compute_time")


def unit(x: float, y: float, mass: float = 10.0, friction: float = 0.01, speed: float = 0.0) -> Any:
    return game_state_pb2.Unit(
        coordinate=game_state_pb2.Coordinate(x=x, y=y), speed=speed, mass=mass, friction=friction
    )


def enemy(x: float, y: float) -> Any:
    return unit(x, y, mass=50.0, friction=0.5)


#: Three player units (the second heavy, the third already moving) and three enemy units.
STATE = game_state_pb2.GameState(
    player_units=[unit(0, 0), unit(100, 50, mass=40), unit(-300, 20, speed=3)],
    enemy_units=[enemy(5000, 0), enemy(400, 300), enemy(-2000, -900)],
)


def assign(*pairs: tuple[int, int]) -> list[pb.Assignment]:
    return [pb.Assignment(player_index=p, enemy_index=e) for p, e in pairs]


def batch(
    state: game_state_pb2.GameState = STATE,
    pairs: Sequence[tuple[int, int]] = (),
    options: planning_pb2.PlannerOptions = EXACT,
) -> pb.CreatePlanBatchRequest:
    return pb.CreatePlanBatchRequest(game_state=state, assignments=assign(*pairs), options=options)


def pair_state(state: game_state_pb2.GameState, player: int, target: int) -> game_state_pb2.GameState:
    return game_state_pb2.GameState(
        player_units=[state.player_units[player]], enemy_units=[state.enemy_units[target]]
    )


def planned(plan: Any) -> dict[str, Any]:
    """What a plan says about the units it was made for (not when, nor for which call)."""
    shown = json_format.MessageToDict(plan, preserving_proto_field_name=True)
    return {k: v for k, v in shown.items() if k not in PER_CALL}


@pytest.mark.parametrize("options", [EXACT, RANDOM, GENETIC], ids=["exact", "random", "genetic"])
async def test_batch_results_match_single_plans_unit_for_unit(
    stub: ThrottlingServiceStub, options: planning_pb2.PlannerOptions
) -> None:
    pairs = [(0, 2), (1, 0), (2, 1), (0, 0), (1, 0)]
    reply = await stub.CreatePlanBatch(batch(pairs=pairs, options=options), timeout=HANG_GUARD_SECONDS)
    assert [(r.assignment.player_index, r.assignment.enemy_index) for r in reply.results] == pairs
    for (player, target), result in zip(pairs, reply.results, strict=True):
        assert result.WhichOneof("result") == "plan", result
        single = await stub.CreatePlan(
            pb.CreatePlanRequest(game_state=pair_state(STATE, player, target), options=options)
        )
        assert planned(result.plan) == planned(single.plan)
        stored = await stub.GetPlan(pb.GetPlanRequest(plan_id=result.plan.plan_id))
        assert planned(stored.plan) == planned(result.plan)
    assert len({r.plan.plan_id for r in reply.results}) == len(pairs)


async def test_without_assignments_every_player_unit_plans_towards_its_nearest_enemy(
    stub: ThrottlingServiceStub,
) -> None:
    reply = await stub.CreatePlanBatch(batch(), timeout=HANG_GUARD_SECONDS)
    enemies = STATE.enemy_units
    for index, (player, result) in enumerate(zip(STATE.player_units, reply.results, strict=True)):
        distances = [
            math.hypot(e.coordinate.x - player.coordinate.x, e.coordinate.y - player.coordinate.y)
            for e in enemies
        ]
        nearest = distances.index(min(distances))
        assert (result.assignment.player_index, result.assignment.enemy_index) == (index, nearest)
        assert result.plan.game_state == pair_state(STATE, index, nearest)
        assert result.plan.target_distance == pytest.approx(distances[nearest])
        assert all(goal.coordinate == enemies[nearest].coordinate for goal in result.plan.goals)
    assert len(reply.results) == len(STATE.player_units)
    # The third player unit's nearest enemy is not the first one: not every unit plans for enemy 0.
    assert reply.results[2].assignment.enemy_index == 1


async def test_a_bad_unit_fails_only_the_results_that_plan_it(stub: ThrottlingServiceStub) -> None:
    state = game_state_pb2.GameState()
    state.CopyFrom(STATE)
    state.player_units.append(unit(10, 10, mass=-1))  # player 3: a bad mass
    state.enemy_units.append(game_state_pb2.Unit(mass=50))  # enemy 3: no coordinate
    pairs = [(0, 0), (3, 1), (1, 3), (7, 0), (2, -1), (1, 1)]
    reply = await stub.CreatePlanBatch(batch(state, pairs), timeout=HANG_GUARD_SECONDS)
    outcome = [r.WhichOneof("result") for r in reply.results]
    assert outcome == ["plan", "error", "error", "error", "error", "plan"]
    errors = {index: reply.results[index].error for index in (1, 2, 3, 4)}
    assert {e.code for e in errors.values()} == {grpc.StatusCode.INVALID_ARGUMENT.value[0]}
    assert list(status_violations(errors[1])) == ["game_state.player_units[3].mass"]
    assert "got -1" in status_violations(errors[1])["game_state.player_units[3].mass"]
    assert list(status_violations(errors[2])) == ["game_state.enemy_units[3].coordinate"]
    assert status_violations(errors[3]) == {"assignments[3].player_index": "must be in [0, 3], got 7"}
    assert status_violations(errors[4]) == {"assignments[4].enemy_index": "must be in [0, 3], got -1"}
    assert errors[1].message == "invalid request: game_state.player_units[3].mass"
    # Without assignments, the bad player unit's result is its error; the others plan.
    whole = await stub.CreatePlanBatch(batch(state), timeout=HANG_GUARD_SECONDS)
    assert [r.WhichOneof("result") for r in whole.results] == ["plan", "plan", "plan", "error"]
    assert list(status_violations(whole.results[3].error)) == ["game_state.player_units[3].mass"]
    assert not whole.results[3].HasField("assignment")
    # Nobody plans towards the enemy without a coordinate, even when it is nearest.
    assert {r.assignment.enemy_index for r in whole.results[:3]} <= {0, 1, 2}
    # With no valid enemy at all, every result says so.
    lost = game_state_pb2.GameState(
        player_units=STATE.player_units, enemy_units=[game_state_pb2.Unit(mass=50)]
    )
    nowhere = await stub.CreatePlanBatch(batch(lost), timeout=HANG_GUARD_SECONDS)
    reasons = ["game_state.enemy_units", "game_state.enemy_units[0].coordinate"]  # none, and why
    assert [list(status_violations(r.error)) for r in nowhere.results] == [reasons] * 3


async def test_a_unit_whose_numbers_would_overflow_fails_alone(stub: ThrottlingServiceStub) -> None:
    state = game_state_pb2.GameState()
    state.CopyFrom(STATE)
    state.player_units[1].mass = 5e-324  # a valid mass, but 300 / mass overflows a float
    reply = await stub.CreatePlanBatch(batch(state, [(0, 0), (1, 0)]), timeout=HANG_GUARD_SECONDS)
    assert reply.results[0].HasField("plan")
    violations = status_violations(reply.results[1].error)
    assert list(violations) == ["game_state.player_units[1].mass"]
    assert "overflow" in violations["game_state.player_units[1].mass"]


async def test_a_batch_over_the_limits_is_refused_with_a_clear_message(stub: ThrottlingServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as too_many:
        await stub.CreatePlanBatch(batch(pairs=[(0, 0)] * 1001))
    assert too_many.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(too_many.value) == {
        "assignments": "must contain at most 1000 assignments, got 1001"
    }
    # At the limit the same batch is planned.
    options = planning_pb2.PlannerOptions(strategy=planning_pb2.STRATEGY_RANDOM, seed=1, max_ticks=10)
    reply = await stub.CreatePlanBatch(
        batch(pairs=[(0, 0)] * 1000, options=options), timeout=HANG_GUARD_SECONDS
    )
    assert len(reply.results) == 1000 and all(r.HasField("plan") for r in reply.results)
    # The answer's size is bounded before planning: units x max_ticks goals.
    long = planning_pb2.PlannerOptions(max_ticks=1000)
    with pytest.raises(grpc.aio.AioRpcError) as too_large:
        await stub.CreatePlanBatch(batch(pairs=[(0, 0)] * 101, options=long))
    assert too_large.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(too_large.value) == {
        "assignments": "101 units of up to 1000 ticks may answer 101000 goals, at most 100000 are "
        "allowed: plan fewer units or lower options.max_ticks"
    }


async def test_without_assignments_the_player_units_count_against_the_limits() -> None:
    """Every player unit is planned then: more of them than a batch plans (a side may hold more,
    up to THROTTLING_MAX_UNITS), or than its goals allow, is refused as a whole, naming them."""
    two = game_state_pb2.GameState(player_units=STATE.player_units[:2], enemy_units=STATE.enemy_units)
    app = Application(make_settings(max_batch_assignments=2, max_batch_goals=250))
    async with serving(app) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as too_many:
            await stub.CreatePlanBatch(batch())
        with pytest.raises(grpc.aio.AioRpcError) as too_long:
            await stub.CreatePlanBatch(batch(two, options=planning_pb2.PlannerOptions(max_ticks=126)))
        fine = await stub.CreatePlanBatch(
            batch(two, options=planning_pb2.PlannerOptions(max_ticks=125)), timeout=HANG_GUARD_SECONDS
        )
    assert too_many.value.code() == too_long.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(too_many.value) == {
        "game_state.player_units": "a batch plans at most 2 units, got 3: give assignments for fewer"
    }
    assert field_violations(too_long.value) == {
        "game_state.player_units": "2 units of up to 126 ticks may answer 252 goals, at most 250 are "
        "allowed: plan fewer units or lower options.max_ticks"
    }
    assert [r.WhichOneof("result") for r in fine.results] == ["plan", "plan"]


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (pb.CreatePlanBatchRequest(), {"game_state"}),
        (
            pb.CreatePlanBatchRequest(game_state=game_state_pb2.GameState(player_units=[unit(0, 0)])),
            {"game_state.enemy_units"},
        ),
        (
            batch(options=planning_pb2.PlannerOptions(max_ticks=0, min_throttle=900)),
            {"options.max_ticks", "options.min_throttle"},
        ),
    ],
    ids=["no-game-state", "no-enemy", "bad-options"],
)
async def test_a_malformed_batch_is_invalid_argument_as_a_whole(
    stub: ThrottlingServiceStub, request_: pb.CreatePlanBatchRequest, fields: set[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreatePlanBatch(request_)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(raised.value)) == fields


class RecordingRepository(InMemoryPlanRepository):
    """The in-memory store, recording each write it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[list[Plan]] = []

    async def add(self, plan: Plan) -> None:
        self.writes.append([plan])
        await super().add(plan)

    async def add_many(self, plans: list[Plan]) -> None:
        self.writes.append(list(plans))
        await super().add_many(plans)


@asynccontextmanager
async def serving(app: Application) -> AsyncIterator[ThrottlingServiceStub]:
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            yield ThrottlingServiceStub(channel)
    finally:
        await app.stop(grace=0.0)


async def test_a_batch_is_stored_in_one_write() -> None:
    app = Application(make_settings())
    store = RecordingRepository()
    app.container.register(PlanRepository, instance=store)
    async with serving(app) as stub:
        reply = await stub.CreatePlanBatch(
            batch(pairs=[(0, 0), (1, 1), (2, 2), (5, 5)]), timeout=HANG_GUARD_SECONDS
        )
    ids = [r.plan.plan_id for r in reply.results if r.HasField("plan")]
    assert len(ids) == 3
    assert [[str(p.plan_id) for p in write] for write in store.writes] == [ids]


def lane_of(app: Application) -> FairLane:
    lane = app.container.resolve(PlanningLanes).quick
    assert isinstance(lane, FairLane)
    return lane


def held(units: int) -> pb.CreatePlanBatchRequest:
    """A batch of genetic plans held in their lane after generation 0 (test_fair_planning's)."""
    options = planning_pb2.PlannerOptions(
        strategy=planning_pb2.STRATEGY_GENETIC, seed=HELD_SEED, max_ticks=50, time_budget_ms=60_000
    )
    state = game_state_pb2.GameState(player_units=[unit(0, 0)] * units, enemy_units=[enemy(5000, 0)])
    return pb.CreatePlanBatchRequest(game_state=state, options=options)


async def test_a_batch_takes_turns_with_other_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    """One planner thread; a greedy caller's batch of six holds it. Another caller's plan takes the
    next free thread, ahead of the five batch plans still queued."""
    issuer = Issuer()
    issuer.add_key("k1")
    issuer.serve()
    planner = PermitGenetic()
    monkeypatch.setattr(container, "GeneticPlanner", lambda: planner)
    app = Application(make_settings(auth_issuer=issuer.url, planner_threads=1, quick_plan_ms=60_000))
    greedy, other = bearer(issuer.token(sub="greedy")), bearer(issuer.token(sub="other"))
    try:
        async with serving(app) as stub:
            lane = lane_of(app)
            batched = asyncio.ensure_future(stub.CreatePlanBatch(held(6), metadata=greedy))
            await wait_for(lambda: lane.running == 1 and lane.waiting == 5, "the batch to fill the lane")
            single = asyncio.ensure_future(
                stub.CreatePlan(pb.CreatePlanRequest(game_state=STATE), metadata=other)
            )
            await wait_for(lambda: lane.waiting == 6, "the other caller's plan to queue")
            planner.permits.release()  # the batch's running plan may finish: one thread is free
            reply = await asyncio.wait_for(single, HANG_GUARD_SECONDS)
            assert reply.plan.user_id == "other"
            assert not batched.done() and lane.waiting >= 4
            planner.permits.release(5)
            results = (await asyncio.wait_for(batched, HANG_GUARD_SECONDS)).results
            assert [r.plan.user_id for r in results] == ["greedy"] * 6
    finally:
        planner.permits.release(8)
        issuer.stop()


async def test_a_cancelled_batch_stops_its_plans_and_stores_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    planner = HeldGenetic()
    monkeypatch.setattr(container, "GeneticPlanner", lambda: planner)
    app = Application(make_settings(planner_threads=2, quick_plan_ms=60_000))
    store = RecordingRepository()
    app.container.register(PlanRepository, instance=store)
    try:
        async with serving(app) as stub:
            lane = lane_of(app)
            call = stub.CreatePlanBatch(held(5))
            await wait_for(lambda: lane.running == 2 and lane.waiting == 3, "the batch to fill the lane")
            call.cancel()
            # The running plans stop at their next poll, the queued ones never start.
            await wait_for(
                lambda: lane.running == 0 and lane.waiting == 0, "the cancelled batch to leave the lane"
            )
            with pytest.raises(asyncio.CancelledError):
                await call
            assert store.writes == []
            assert not planner.release.is_set()  # stopped by the cancel, not let go
    finally:
        planner.release.set()


async def test_a_batch_stops_planning_in_time_to_answer_before_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Held plans run until the batch must stop; the unit whose turn comes too late gets
    DEADLINE_EXCEEDED in its result, and the batch is answered, not the call."""
    planner = HeldGenetic()
    monkeypatch.setattr(container, "GeneticPlanner", lambda: planner)
    app = Application(make_settings(planner_threads=1, quick_plan_ms=60_000))
    try:
        async with serving(app) as stub:
            reply = await stub.CreatePlanBatch(held(3), timeout=2.0)
    finally:
        planner.release.set()
    assert reply.results[0].HasField("plan")
    late = [r.error for r in reply.results[1:]]
    assert [e.code for e in late] == [grpc.StatusCode.DEADLINE_EXCEEDED.value[0]] * 2
    assert all("too little to plan" in e.message for e in late)


async def test_a_batch_queued_behind_other_work_still_answers_by_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its units whose turn has not come when it must answer are DEADLINE_EXCEEDED in their
    results: the batch does not wait for a thread to pick them up (the call ended
    DEADLINE_EXCEEDED, all of it lost, while other plans held the threads)."""
    planner = HeldGenetic()
    monkeypatch.setattr(container, "GeneticPlanner", lambda: planner)
    app = Application(make_settings(planner_threads=1, quick_plan_ms=60_000))
    try:
        async with serving(app) as stub:
            lane = lane_of(app)
            first = asyncio.ensure_future(stub.CreatePlanBatch(held(2)))  # holds the only thread
            await wait_for(lambda: lane.running == 1 and lane.waiting == 1, "the first batch to hold it")
            late = await stub.CreatePlanBatch(held(3), timeout=2.0)
            planner.release.set()
            assert len((await asyncio.wait_for(first, HANG_GUARD_SECONDS)).results) == 2
    finally:
        planner.release.set()
    errors = [r.error for r in late.results]
    assert [e.code for e in errors] == [grpc.StatusCode.DEADLINE_EXCEEDED.value[0]] * 3
    assert all("too little to plan" in e.message for e in errors)


# -- the other front doors: REST and GraphQL through the real Envoy and sidecar -----------------


#: The module, not the function the package exports under the same name.
envoy_config = importlib.import_module("bridge.envoy.config")


async def test_a_rest_batch_is_answered_by_its_deadline_not_cut_off_by_envoy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Envoy gives up on a REST call after its route timeout; the server is told an earlier
    deadline, so a batch it cannot finish in time answers what it planned (the rest
    DEADLINE_EXCEEDED per unit) instead of Envoy's 504 throwing all of it away. Both times are
    shortened here, and the plans held until the server must answer."""
    monkeypatch.setattr(envoy_config, "REST_TIMEOUT_SECONDS", 5)
    monkeypatch.setattr(envoy_config, "REST_DEADLINE_SECONDS", 2)
    planner = HeldGenetic()
    monkeypatch.setattr(container, "GeneticPlanner", lambda: planner)
    app = Application(make_settings(planner_threads=1, quick_plan_ms=60_000))
    body = json_format.MessageToDict(held(3))
    try:
        async with (
            serving(app),  # (no GraphQL sidecar: its cluster is never called)
            envoy_process(app.port or 0, "http://127.0.0.1:9", tmp_path) as proxy,
            httpx.AsyncClient(base_url=proxy.url, timeout=HANG_GUARD_SECONDS) as client,
        ):
            answered = await client.post("/api/v1/plans:batch", json=body)
            # A caller asking for more time than Envoy waits meets its timeout: JSON, like any error.
            cut_off = await client.post("/api/v1/plans:batch", json=body, headers={"grpc-timeout": "100S"})
    finally:
        planner.release.set()
    assert answered.status_code == 200, answered.text
    first, *late = answered.json()["results"]
    assert first["plan"]["goals"]
    assert [r["error"]["code"] for r in late] == [grpc.StatusCode.DEADLINE_EXCEEDED.value[0]] * 2
    assert cut_off.status_code == 504
    assert cut_off.json() == {"code": 4, "status": "DEADLINE_EXCEEDED", "message": "upstream request timeout"}


def state_json(state: game_state_pb2.GameState = STATE) -> dict[str, Any]:
    shown: dict[str, Any] = json_format.MessageToDict(state)
    return shown


async def test_rest_batch_through_envoy(rest: httpx.AsyncClient) -> None:
    body = {
        "gameState": state_json(),
        "assignments": [{"playerIndex": 0, "enemyIndex": 2}, {"player_index": 7, "enemy_index": 0}],
        "options": {"strategy": "STRATEGY_RANDOM", "seed": "23"},
    }
    response = await rest.post("/api/v1/plans:batch", json=body)
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    single = await rest.post(
        "/api/v1/plans", json={"gameState": state_json(pair_state(STATE, 0, 2)), "options": body["options"]}
    )
    assert first["plan"]["goals"] == single.json()["plan"]["goals"]
    assert first["assignment"] == {"playerIndex": 0, "enemyIndex": 2}
    assert second["error"]["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    bad_request = next(d for d in second["error"]["details"] if d["@type"].endswith("google.rpc.BadRequest"))
    assert [(v["field"], v["description"]) for v in bad_request["fieldViolations"]] == [
        ("assignments[1].player_index", "must be in [0, 2], got 7")
    ]
    refused = await rest.post(
        "/api/v1/plans:batch", json={"gameState": state_json(), "assignments": [{}] * 1001}
    )
    assert refused.status_code == 400
    assert "must contain at most 1000 assignments, got 1001" in refused.text


async def test_the_largest_batch_answer_passes_envoy(rest: httpx.AsyncClient) -> None:
    """1,000 units of 100 ticks each, out of reach, so every plan has all its ticks: the limit's
    100,000 goals, about 7 MB of JSON (past Envoy's default 1 MiB transcoder buffer)."""
    players = [unit(0.5, 1e6 * k + 0.25) for k in range(1000)]
    enemies = [enemy(1e8 + 0.75, 1e6 * k + 0.125) for k in range(1000)]  # each one's nearest: its own
    state = game_state_pb2.GameState(player_units=players, enemy_units=enemies)
    response = await rest.post("/api/v1/plans:batch", json={"gameState": state_json(state)})
    assert response.status_code == 200, response.text[:500]
    results = response.json()["results"]
    assert sum(len(r["plan"]["goals"]) for r in results) == 100_000
    assert [r["assignment"].get("enemyIndex", 0) for r in results] == list(range(1000))
    assert len(response.content) > 4 * 1024 * 1024


PLAN_BATCH = """mutation(
  $state: GameStateInputType!, $assignments: [AssignmentInput!], $options: PlannerOptionsInput
) {
  planBatch(gameStateInput: $state, assignments: $assignments, options: $options) {
    assignment { playerIndex enemyIndex }
    plan { id userId score { total } goals { throttle } }
    error { code grpcStatus message fieldViolations { field description } }
  }
}"""


async def graphql(rest: httpx.AsyncClient, variables: dict[str, Any]) -> dict[str, Any]:
    response = await rest.post("/graphql", json={"query": PLAN_BATCH, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_graphql_plan_batch_through_the_sidecar(rest: httpx.AsyncClient) -> None:
    players = [
        {"coordinate": {"x": 0, "y": 0}, "speed": 0, "mass": 10, "friction": 0.01},
        {"coordinate": {"x": 5, "y": 5}, "speed": 0, "mass": -1, "friction": 0.01},
    ]
    enemies = [{"coordinate": {"x": 900, "y": 0}, "speed": 0, "mass": 50, "friction": 0.5}]
    state = {"playerUnits": players, "enemyUnits": enemies}
    body = await graphql(rest, {"state": state, "options": {"strategy": "RANDOM", "seed": 3}})
    good, bad = body["data"]["planBatch"]
    assert good["assignment"] == {"playerIndex": 0, "enemyIndex": 0} and good["error"] is None
    assert good["plan"]["userId"] == "anonymous" and good["plan"]["goals"]
    assert bad["plan"] is None and bad["assignment"] is None
    assert bad["error"]["code"] == "BAD_USER_INPUT" and bad["error"]["grpcStatus"] == "INVALID_ARGUMENT"
    assert [v["field"] for v in bad["error"]["fieldViolations"]] == ["gameStateInput.playerUnits[1].mass"]
    assigned = await graphql(rest, {"state": state, "assignments": [{"playerIndex": 0, "enemyIndex": 4}]})
    violation = assigned["data"]["planBatch"][0]["error"]["fieldViolations"][0]
    assert violation == {"field": "assignments[0].enemyIndex", "description": "must be in [0, 0], got 4"}
    # A malformed batch as a whole is a GraphQL error, as for every other field.
    refused = await graphql(rest, {"state": {"playerUnits": players, "enemyUnits": []}})
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # Priced before it runs: 100 units of the default 1 s budget cost 10 + 100.
    many = await graphql(rest, {"state": {"playerUnits": players[:1] * 100, "enemyUnits": enemies}})
    assert many["errors"][0]["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE"
    assert many["errors"][0]["extensions"]["cost"] == 110
    # And by the goals its answer may hold: 300 units of up to 100 ticks, each with its goals.
    cheap = {"strategy": "RANDOM", "timeBudgetMs": 10}
    large = await graphql(
        rest, {"state": {"playerUnits": players[:1] * 300, "enemyUnits": enemies}, "options": cheap}
    )
    assert large["errors"][0]["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE"
    assert large["errors"][0]["extensions"]["goals"] == 30_000
