"""Planner benchmark: every strategy over the public scenarios with proven optima.

Gap = plan score - proven optimum (bench/scenarios/public.json). Latencies are in-process
wall times of every run (not the best of several). The pure-Python GA baseline runs in the
same process, so ratios against it cancel out the machine's speed and noise.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.baseline_ga import PurePythonGeneticPlanner
from throttling_sequencer.adapters.planners.exact import ExactPlanner
from throttling_sequencer.adapters.planners.genetic import GeneticPlanner
from throttling_sequencer.adapters.planners.random_search import RandomPlanner
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem
from throttling_sequencer.domain.physics import score
from throttling_sequencer.domain.ports import Planner, StopSignal

#: The public scenarios (a copy of shared/scenarios/public.json, so a clone has them).
SCENARIOS = Path(__file__).resolve().parent / "scenarios" / "public.json"


@dataclass(frozen=True)
class Scenario:
    name: str
    problem: Problem
    optimum: float
    optimum_lower_bound: float


def load_scenarios(path: Path = SCENARIOS) -> list[Scenario]:
    """The public set; `game_state` is the REST body, planned for player 0 towards enemy 0."""
    out = []
    for item in json.loads(path.read_text())["scenarios"]:
        unit, target = item["game_state"]["player_units"][0], item["game_state"]["enemy_units"][0]
        distance = math.hypot(
            target["coordinate"]["x"] - unit["coordinate"]["x"],
            target["coordinate"]["y"] - unit["coordinate"]["y"],
        )
        problem = Problem(distance, unit["speed"], unit["mass"], unit["friction"])
        out.append(Scenario(item["name"], problem, item["optimum_score"], item["optimum_lower_bound"]))
    return out


@dataclass
class Row:
    strategy: str
    gaps: list[float]
    latencies: list[float]
    bound_violations: int = 0
    bound_gaps: list[float] | None = None
    iterations_per_second: float | None = None


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_strategy(
    name: str, planner: Planner, scenarios: list[Scenario], config: PlannerConfig, repeats: int
) -> Row:
    row = Row(name, [], [], bound_gaps=[])
    iterations = 0.0
    seconds = 0.0
    for scenario in scenarios:
        for _ in range(repeats):
            started = time.perf_counter()
            result = planner.plan(
                scenario.problem, config, StopSignal(time.monotonic() + config.time_budget_seconds)
            )
            elapsed = time.perf_counter() - started
            row.latencies.append(elapsed)
            iterations += result.iterations
            seconds += elapsed
        total = score(scenario.problem, config, result.throttles).total
        row.gaps.append(total - scenario.optimum)
        if result.lower_bound is not None:
            assert row.bound_gaps is not None
            row.bound_gaps.append(total - result.lower_bound)
            # The bound must never exceed the proven optimum (up to the reference's own tolerance).
            if result.lower_bound > scenario.optimum + 1e-6:
                row.bound_violations += 1
    row.iterations_per_second = iterations / seconds if seconds else None
    return row


def planner_rows(quick: bool, progress: Callable[[str], None]) -> list[Row]:
    scenarios = load_scenarios()
    ga_scenarios = scenarios[:: 6 if quick else 2]
    budget = PlannerConfig(seed=1, time_budget_ms=250 if quick else 1000)
    rows = []
    progress("exact over the public set")
    rows.append(run_strategy("exact", ExactPlanner(), scenarios, PlannerConfig(), 3 if quick else 10))
    progress(f"genetic (compiled) and the pure-Python baseline, {len(ga_scenarios)} scenarios")
    rows.append(run_strategy("genetic (compiled)", GeneticPlanner(), ga_scenarios, budget, 1))
    rows.append(
        run_strategy("genetic (pure-Python baseline)", PurePythonGeneticPlanner(), ga_scenarios, budget, 1)
    )
    rows.append(run_strategy("random", RandomPlanner(), ga_scenarios, budget, 1))
    return rows


def render(rows: list[Row]) -> str:
    header = (
        f"{'strategy':<32} {'plans':>5} {'median gap':>11} {'max gap':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'iter/s':>9} {'vs baseline':>11}"
    )
    lines = [header, "-" * len(header)]
    baseline = next((r for r in rows if "baseline" in r.strategy), None)
    for r in rows:
        ratio = ""
        if (
            baseline
            and r.iterations_per_second
            and baseline.iterations_per_second
            and "genetic" in r.strategy
        ):
            ratio = f"{r.iterations_per_second / baseline.iterations_per_second:.1f}x"
        lines.append(
            f"{r.strategy:<32} {len(r.gaps):>5} {statistics.median(r.gaps):>11.3g} {max(r.gaps):>10.3g} "
            f"{quantile(r.latencies, 0.5) * 1000:>8.2f} {quantile(r.latencies, 0.99) * 1000:>8.2f} "
            f"{(r.iterations_per_second or 0):>9.0f} {ratio:>11}"
        )
    exact = next(r for r in rows if r.strategy == "exact")
    assert exact.bound_gaps is not None
    plans, certified = len(exact.gaps), exact.bound_gaps
    close = sum(g <= 1e-4 for g in exact.gaps)
    lines.append(
        f"exact: lower bound above the proven optimum in {exact.bound_violations} of {plans} scenarios; "
        f"certified gap (score - own bound) median {statistics.median(certified):.3g}, "
        f"max {max(certified):.3g}; {close}/{plans} within 1e-4 of the optimum"
    )
    genetic = [r for r in rows if "genetic" in r.strategy]
    if len(genetic) == 2:
        fast, slow = genetic
        lines.append(
            f"genetic at equal budget: median gap {statistics.median(fast.gaps):.3g} (compiled) vs "
            f"{statistics.median(slow.gaps):.3g} (pure Python); iter/s = generations per second"
        )
    return "\n".join(lines)
