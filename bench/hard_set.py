"""The hard scenario set: the kinds of states a planner tuned on typical physics misses.

    python -m bench.hard_set [--count-per-kind 8] [--seed 11]

writes bench/scenarios/hard.json: deterministic draws (one seeded generator) of tiny masses,
zero friction, friction near 1, sub-unit distances, starts at or above the speed threshold,
heavy units, odd weights and a throttle floor, each with planner options and its optimum from
the reference MILP (tests/reference_milp.py, HiGHS), so the bench and the tests can compare
against proven optima without solving them again. Limits stay small (at most 12 ticks) so the
MILP proves every length.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem
from throttling_sequencer.domain.physics import final_state

HARD_SET = Path(__file__).resolve().parent / "scenarios" / "hard.json"
PUBLIC_SET = Path(__file__).resolve().parent / "scenarios" / "public.json"

#: Planner options a scenario may set (PlannerConfig fields).
OPTION_FIELDS = (
    "distance_weight",
    "speed_weight",
    "length_weight",
    "nonzero_weight",
    "speed_threshold",
    "min_throttle",
    "max_throttle",
    "max_ticks",
)


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str
    problem: Problem
    config: PlannerConfig
    optimum: float
    optimum_lower_bound: float


def load(path: Path = HARD_SET) -> list[Scenario]:
    """The scenarios of a set (public or hard); `game_state` is the REST body."""
    out = []
    for item in json.loads(path.read_text())["scenarios"]:
        unit, target = item["game_state"]["player_units"][0], item["game_state"]["enemy_units"][0]
        distance = math.hypot(
            target["coordinate"]["x"] - unit["coordinate"]["x"],
            target["coordinate"]["y"] - unit["coordinate"]["y"],
        )
        problem = Problem(distance, unit["speed"], unit["mass"], unit["friction"])
        config = replace(PlannerConfig(), **item.get("options", {}))
        out.append(
            Scenario(
                item["name"],
                item.get("kind", "public"),
                problem,
                config,
                item["optimum_score"],
                item["optimum_lower_bound"],
            )
        )
    return out


Draw = Callable[[random.Random], tuple[Problem, dict[str, Any]]]


def _reach(problem: Problem, config: PlannerConfig) -> float:
    """Distance covered at full throttle for the longest plan."""
    return final_state(problem, [config.max_throttle] * config.max_ticks)[1]


def _target(rng: random.Random, problem: Problem, options: dict[str, Any]) -> Problem:
    """Move the target to a fraction of the reachable distance (mostly reachable, some not)."""
    config = replace(PlannerConfig(), **options)
    reach = max(_reach(problem, config), 1e-9)
    fraction = rng.choice(
        [
            rng.uniform(0.02, 0.4),
            rng.uniform(0.02, 0.4),
            rng.uniform(0.4, 0.98),
            rng.uniform(0.4, 0.98),
            rng.uniform(1.0, 1.3),
        ]
    )
    return replace(problem, distance=round(fraction * reach, 6))


def _ticks(rng: random.Random) -> dict[str, Any]:
    return {"max_ticks": rng.randint(3, 12)}


def tiny_mass(rng: random.Random) -> tuple[Problem, dict[str, Any]]:
    options = _ticks(rng)
    problem = Problem(
        0.0, rng.choice([0.0, rng.uniform(0, 10)]), rng.uniform(0.01, 0.3), rng.uniform(0.02, 0.5)
    )
    return _target(rng, problem, options), options


def frictionless(rng: random.Random) -> tuple[Problem, dict[str, Any]]:
    options = _ticks(rng)
    problem = Problem(
        0.0, rng.choice([0.0, rng.uniform(0, 8)]), rng.choice([rng.uniform(0.05, 1), rng.uniform(1, 60)]), 0.0
    )
    return _target(rng, problem, options), options


def friction_near_one(rng: random.Random) -> tuple[Problem, dict[str, Any]]:
    options = _ticks(rng)
    friction = rng.choice([0.9, 0.99, 0.999, 0.9961, 0.99999])
    problem = Problem(
        0.0, rng.uniform(0, 20), rng.choice([rng.uniform(0.05, 1), rng.uniform(1, 60)]), friction
    )
    return _target(rng, problem, options), options


def sub_unit_distance(rng: random.Random) -> tuple[Problem, dict[str, Any]]:
    options = _ticks(rng)
    problem = Problem(
        round(rng.uniform(0.0, 1.0), 6),
        rng.choice([0.0, rng.uniform(0, 0.5)]),
        rng.uniform(1, 2000),
        rng.uniform(0, 0.5),
    )
    return problem, options


def above_threshold(rng: random.Random) -> tuple[Problem, dict[str, Any]]:
    options = _ticks(rng) | {"speed_threshold": rng.choice([0.0, 5.0, 2.0])}
    threshold = options["speed_threshold"]
    problem = Problem(0.0, threshold + rng.uniform(0, 40), rng.uniform(0.5, 80), rng.uniform(0.01, 0.4))
    return _target(rng, problem, options), options


def heavy(rng: random.Random) -> tuple[Problem, dict[str, Any]]:
    options = _ticks(rng)
    problem = Problem(
        round(rng.uniform(1, 5000), 6), rng.uniform(0, 5), rng.uniform(1e3, 1e6), rng.uniform(0, 0.3)
    )
    return problem, options


def odd_weights(rng: random.Random) -> tuple[Problem, dict[str, Any]]:
    weights = [0.0, 0.001, 0.3, 7.0, 1000.0]
    options = _ticks(rng) | {
        "distance_weight": rng.choice(weights[1:]),
        "speed_weight": rng.choice(weights),
        "length_weight": rng.choice(weights),
        "nonzero_weight": rng.choice(weights),
        "speed_threshold": rng.choice([0.0, 1.0, 5.0, 50.0]),
    }
    problem = Problem(
        0.0, rng.uniform(0, 10), rng.choice([rng.uniform(0.05, 1), rng.uniform(1, 80)]), rng.uniform(0, 0.5)
    )
    return _target(rng, problem, options), options


def throttle_floor(rng: random.Random) -> tuple[Problem, dict[str, Any]]:
    low = rng.randint(1, 60)
    options = _ticks(rng) | {"min_throttle": low, "max_throttle": rng.randint(low, 300)}
    problem = Problem(
        0.0, rng.uniform(0, 10), rng.choice([rng.uniform(0.05, 1), rng.uniform(1, 80)]), rng.uniform(0, 0.5)
    )
    return _target(rng, problem, options), options


KINDS: dict[str, Draw] = {
    "tiny-mass": tiny_mass,
    "frictionless": frictionless,
    "friction-near-1": friction_near_one,
    "sub-unit-distance": sub_unit_distance,
    "above-threshold": above_threshold,
    "heavy": heavy,
    "odd-weights": odd_weights,
    "throttle-floor": throttle_floor,
}


def game_state(problem: Problem) -> dict[str, Any]:
    """The REST body of a state posing `problem` (target straight ahead on x)."""
    return {
        "player_units": [
            {
                "coordinate": {"x": 0.0, "y": 0.0},
                "speed": problem.initial_speed,
                "mass": problem.mass,
                "friction": problem.friction,
            }
        ],
        "enemy_units": [
            {"coordinate": {"x": problem.distance, "y": 0.0}, "speed": 0.0, "mass": 50.0, "friction": 0.5}
        ],
    }


def generate(count_per_kind: int, seed: int) -> dict[str, Any]:
    from tests.reference_milp import reference

    rng = random.Random(seed)
    scenarios = []
    for kind, draw in KINDS.items():
        for index in range(count_per_kind):
            problem, options = draw(rng)
            config = replace(PlannerConfig(), **options)
            started = time.perf_counter()
            ref = reference(problem, config)
            print(
                f"{kind}-{index + 1}: {ref.optimum:.9g} in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
            scenarios.append(
                {
                    "name": f"{kind}-{index + 1}",
                    "kind": kind,
                    "game_state": game_state(problem),
                    "options": options,
                    "optimum_score": ref.optimum,
                    "optimum_lower_bound": ref.bound,
                    "optimum_throttles": list(ref.throttles),
                }
            )
    return {
        "description": (
            "Hard planning scenarios with optima proven by the reference MILP (tests/reference_milp.py, "
            f"HiGHS, every length solved or pruned by its LP bound); generated by `python -m bench.hard_set "
            f"--count-per-kind {count_per_kind} --seed {seed}`. The planned unit is player_units[0], the "
            "target enemy_units[0]; `options` are planner overrides (the rest are the defaults)."
        ),
        "scenarios": scenarios,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hard_set", description=__doc__)
    parser.add_argument("--count-per-kind", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    data = generate(args.count_per_kind, args.seed)
    HARD_SET.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {len(data['scenarios'])} scenarios to {HARD_SET}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
