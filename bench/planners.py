"""Planner benchmark: every strategy over the public scenarios, the exact one also over the hard set.

Gap = plan score - proven optimum (bench/scenarios/public.json and hard.json, optima from the
reference MILP). Latencies are in-process wall times of every run (not the best of several),
after the exact kernel is warmed up (compiled or loaded from its cache), as the server does before
serving. The pure-Python GA baseline runs in the same process, so ratios against it cancel out
the machine's speed and noise.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bench.baseline_ga import PurePythonGeneticPlanner
from bench.hard_set import HARD_SET, PUBLIC_SET, Scenario, load
from throttling_sequencer.adapters.planners.exact import ExactPlanner
from throttling_sequencer.adapters.planners.genetic import GeneticPlanner
from throttling_sequencer.adapters.planners.kernel.warm import warm_up
from throttling_sequencer.adapters.planners.random_search import RandomPlanner
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.physics import OPTIMALITY_TOLERANCE as TOLERANCE
from throttling_sequencer.domain.physics import score
from throttling_sequencer.domain.ports import Planner, StopSignal

#: The public scenarios (kept in the repository; bench/service.py replays them too).
SCENARIOS = PUBLIC_SET


def load_scenarios() -> list[Scenario]:
    return load(PUBLIC_SET)


@dataclass
class Row:
    strategy: str
    gaps: list[float]
    latencies: list[float]
    bound_violations: int = 0
    bound_gaps: list[float] = field(default_factory=list)
    proven: int = 0
    iterations_per_second: float | None = None


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_strategy(
    name: str,
    planner: Planner,
    scenarios: list[Scenario],
    repeats: int,
    config: Callable[[Scenario], PlannerConfig] = lambda s: s.config,
) -> Row:
    row = Row(name, [], [])
    iterations = 0.0
    seconds = 0.0
    for scenario in scenarios:
        chosen = config(scenario)
        for _ in range(repeats):
            started = time.perf_counter()
            result = planner.plan(
                scenario.problem, chosen, StopSignal(time.monotonic() + chosen.time_budget_seconds)
            )
            elapsed = time.perf_counter() - started
            row.latencies.append(elapsed)
            iterations += result.iterations
            seconds += elapsed
        total = score(scenario.problem, chosen, result.throttles).total
        row.gaps.append(total - scenario.optimum)
        row.proven += result.proven_optimal
        if result.lower_bound is not None:
            row.bound_gaps.append(total - result.lower_bound)
            # The bound must never exceed the proven optimum.
            if result.lower_bound > scenario.optimum:
                row.bound_violations += 1
    row.iterations_per_second = iterations / seconds if seconds else None
    return row


def planner_rows(quick: bool, progress: Callable[[str], None]) -> list[Row]:
    public = load(PUBLIC_SET)
    hard = load(HARD_SET)
    ga_scenarios = public[:: 6 if quick else 2]
    budget = PlannerConfig(seed=1, time_budget_ms=250 if quick else 1000)
    progress("warming up the exact kernel")
    warm_up()
    rows = []
    progress(f"exact over the public set ({len(public)}) and the hard set ({len(hard)})")
    rows.append(run_strategy("exact (public)", ExactPlanner(), public, 3 if quick else 10))
    rows.append(run_strategy("exact (hard)", ExactPlanner(), hard, 1 if quick else 3))
    progress(f"genetic (compiled) and the pure-Python baseline, {len(ga_scenarios)} scenarios")

    def ga_config(scenario: Scenario) -> PlannerConfig:
        return replace(scenario.config, seed=budget.seed, time_budget_ms=budget.time_budget_ms)

    rows.append(run_strategy("genetic (compiled)", GeneticPlanner(), ga_scenarios, 1, ga_config))
    rows.append(
        run_strategy("genetic (pure-Python baseline)", PurePythonGeneticPlanner(), ga_scenarios, 1, ga_config)
    )
    rows.append(run_strategy("random", RandomPlanner(), ga_scenarios, 1, ga_config))
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
            f"{quantile(r.latencies, 0.5) * 1000:>8.3f} {quantile(r.latencies, 0.99) * 1000:>8.2f} "
            f"{(r.iterations_per_second or 0):>9.0f} {ratio:>11}"
        )
    for exact in (r for r in rows if r.strategy.startswith("exact")):
        plans = len(exact.gaps)
        lines.append(
            f"{exact.strategy}: proven optimal (score - own bound <= {TOLERANCE:g} x max(1, |score|)) in "
            f"{exact.proven}/{plans}; certified gap median {statistics.median(exact.bound_gaps):.3g}, "
            f"max {max(exact.bound_gaps):.3g}; lower bound above the MILP optimum in "
            f"{exact.bound_violations}/{plans}; p50 {quantile(exact.latencies, 0.5) * 1000:.3f} ms "
            f"(target 0.1), p99 {quantile(exact.latencies, 0.99) * 1000:.2f} ms (target 2)"
        )
    genetic = [r for r in rows if "genetic" in r.strategy]
    if len(genetic) == 2:
        fast, slow = genetic
        lines.append(
            f"genetic at equal budget: median gap {statistics.median(fast.gaps):.3g} (compiled) vs "
            f"{statistics.median(slow.gaps):.3g} (pure Python); iter/s = generations per second"
        )
    return "\n".join(lines)
