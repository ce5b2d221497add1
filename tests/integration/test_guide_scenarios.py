"""Evidence for Guide: the public scenarios, disturbed, steered home through a real server.

Over every public scenario whose undisturbed plan arrives (the server's own exact plan is
ARRIVAL_ON_TARGET), each of a few seeded runs gives the real unit a friction off by up to 25 %
either way and one push after a random tick of the plan: its speed changes by up to 3 either
way and it moves up to 3 along its line. The same disturbances are run open-loop (the stored
plan followed to the letter) and guided. An arrival misses by at most 1 distance unit and ends
at most 1 above the speed threshold.

Deterministic: the disturbances are seeded, the server's plans are exact and its re-plans use a
work budget (polls of the stop signal), not time; nothing here depends on the machine's speed.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import json_format

from bench.planners import SCENARIOS
from tests.conftest import make_settings
from tests.guided import Push, SimulatedUnit, guide, start
from tests.support import serving
from throttling.v1 import game_state_pb2, planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.domain.config import PlannerConfig

RUNS_PER_SCENARIO = 10
FRICTION_ERROR = 0.25
PUSH = 3.0
MISS = 1.0
SPEED = PlannerConfig().speed_threshold + 1.0
#: Guided arrivals over disturbed runs must reach this share (issue 13).
GUIDED_AT_LEAST = 0.9


@dataclass(frozen=True)
class Disturbance:
    friction: float
    push: Push


@dataclass(frozen=True)
class Outcome:
    miss: float
    speed: float

    @property
    def arrived(self) -> bool:
        return abs(self.miss) <= MISS and self.speed <= SPEED


def disturbances(name: str, friction: float, ticks: int) -> list[Disturbance]:
    rng = random.Random(f"guide-{name}")
    return [
        Disturbance(
            friction=min(0.95, friction * (1 + rng.uniform(-FRICTION_ERROR, FRICTION_ERROR))),
            push=Push(
                tick=rng.randint(1, max(1, ticks - 1)),
                speed=rng.uniform(-PUSH, PUSH),
                shove=rng.uniform(-PUSH, PUSH),
            ),
        )
        for _ in range(RUNS_PER_SCENARIO)
    ]


def scenarios(path: Path = SCENARIOS) -> list[tuple[str, game_state_pb2.GameState]]:
    return [
        (item["name"], json_format.ParseDict(item["game_state"], game_state_pb2.GameState()))
        for item in json.loads(path.read_text())["scenarios"]
    ]


@pytest.fixture(scope="module")
async def stub() -> AsyncIterator[ThrottlingServiceStub]:
    async with serving(make_settings()) as (_, stub):
        yield stub


async def test_guided_arrivals_beat_open_loop_over_the_disturbed_public_scenarios(
    stub: ThrottlingServiceStub, capsys: pytest.CaptureFixture[str]
) -> None:
    guided: list[Outcome] = []
    blind: list[Outcome] = []
    arriving = 0
    for name, state in scenarios():
        plan = (await stub.CreatePlan(pb.CreatePlanRequest(game_state=state))).plan
        if plan.arrival != planning_pb2.ARRIVAL_ON_TARGET:
            continue  # the undisturbed optimum does not arrive either: nothing to steer home
        arriving += 1
        throttles = [goal.throttle for goal in plan.goals]
        for disturbance in disturbances(name, state.player_units[0].friction, len(throttles)):
            unit = SimulatedUnit(state, disturbance.friction, disturbance.push)
            for throttle in throttles:
                unit.step(throttle)
            blind.append(Outcome(unit.remaining, unit.speed))
            unit = SimulatedUnit(state, disturbance.friction, disturbance.push)
            await guide(stub, start(state), unit)
            guided.append(Outcome(unit.remaining, unit.speed))
    guided_rate = sum(o.arrived for o in guided) / len(guided)
    blind_rate = sum(o.arrived for o in blind) / len(blind)
    report = (
        f"guidance over {len(guided)} disturbed runs of the {arriving} arriving public scenarios: "
        f"guided {guided_rate:.1%} arrive, open-loop {blind_rate:.1%}"
    )
    with capsys.disabled():
        print(f"\n{report}")
    assert arriving >= 20, report  # the public set has 22 such scenarios
    assert guided_rate >= GUIDED_AT_LEAST, report
    assert blind_rate <= guided_rate / 3, report
