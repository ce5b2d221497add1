"""Planner benchmark: every strategy over the public scenarios, the exact one also over the hard set.

Gap = plan score - proven optimum (bench/scenarios/public.json and hard.json, optima from the
reference MILP). Latencies are in-process times of every run (not the best of several), after
the kernels are warmed up (compiled or loaded from their cache), as the server does before
serving. Baselines run in the same process, in turns with what they measure, so ratios against
them cancel out the machine's speed and noise: the pure-Python GA for the genetic strategy, the
earlier numpy exact planner (bench/baseline_exact.py) for the exact one, by CPU time per plan.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bench.baseline_exact import EarlierExactPlanner
from bench.baseline_ga import PurePythonGeneticPlanner
from bench.hard_set import HARD_SET, PUBLIC_SET, Scenario, load
from throttling_sequencer.adapters.planners.exact import ExactPlanner
from throttling_sequencer.adapters.planners.genetic import GeneticPlanner
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
    gaps: list[float] = field(default_factory=list)
    #: Wall-clock and CPU (the planning thread's own) seconds of every plan.
    latencies: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    bound_violations: int = 0
    bound_gaps: list[float] = field(default_factory=list)
    proven: int = 0
    iterations: float = 0.0

    @property
    def iterations_per_second(self) -> float | None:
        seconds = sum(self.latencies)
        return self.iterations / seconds if seconds else None

    def merged(self, other: Row, strategy: str) -> Row:
        return Row(
            strategy,
            self.gaps + other.gaps,
            self.latencies + other.latencies,
            self.cpu + other.cpu,
            self.bound_violations + other.bound_violations,
            self.bound_gaps + other.bound_gaps,
            self.proven + other.proven,
            self.iterations + other.iterations,
        )


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_in_turns(
    planners: dict[str, Planner],
    scenarios: list[Scenario],
    repeats: int,
    config: Callable[[Scenario], PlannerConfig] = lambda s: s.config,
) -> list[Row]:
    """Every planner on every scenario, `repeats` times, taking turns plan by plan so that all
    of them see the same conditions on a shared machine; one row per planner."""
    rows = {name: Row(name) for name in planners}
    for scenario in scenarios:
        chosen = config(scenario)
        for name, planner in planners.items():
            row = rows[name]
            for _ in range(repeats):
                stop = StopSignal(time.monotonic() + chosen.time_budget_seconds)
                started, cpu_started = time.perf_counter(), time.thread_time()
                result = planner.plan(scenario.problem, chosen, stop)
                row.cpu.append(time.thread_time() - cpu_started)
                row.latencies.append(time.perf_counter() - started)
                row.iterations += result.iterations
            total = score(scenario.problem, chosen, result.throttles).total
            row.gaps.append(total - scenario.optimum)
            row.proven += result.proven_optimal
            if result.lower_bound is not None:
                row.bound_gaps.append(total - result.lower_bound)
                # The bound must never exceed the proven optimum.
                if result.lower_bound > scenario.optimum:
                    row.bound_violations += 1
    return list(rows.values())


@dataclass(frozen=True)
class ExactRows:
    """The exact planner and its numpy predecessor (the baseline), per scenario set."""

    sets: list[tuple[str, Row, Row]]


def exact_rows(quick: bool, progress: Callable[[str], None]) -> ExactRows:
    public, hard = load(PUBLIC_SET), load(HARD_SET)
    repeats = 3 if quick else 10
    progress(
        f"exact (compiled) and its numpy predecessor in turns: public set ({len(public)}) and hard "
        f"set ({len(hard)}), {repeats} plans each"
    )
    planners: dict[str, Planner] = {"exact": ExactPlanner(), "earlier": EarlierExactPlanner()}
    sets = []
    for name, scenarios in (("public", public), ("hard", hard)):
        exact, earlier = run_in_turns(planners, scenarios, repeats)
        sets.append((name, exact, earlier))
    both = ("public + hard", sets[0][1].merged(sets[1][1], "exact"), sets[0][2].merged(sets[1][2], "earlier"))
    return ExactRows([*sets, both])


def planner_rows(quick: bool, progress: Callable[[str], None]) -> list[Row]:
    """The GA (compiled and its pure-Python baseline, in turns) and random search at equal budget,
    and the exact planner over the public set."""
    public = load(PUBLIC_SET)
    ga_scenarios = public[:: 6 if quick else 2]
    budget = PlannerConfig(seed=1, time_budget_ms=250 if quick else 1000)

    def ga_config(scenario: Scenario) -> PlannerConfig:
        return replace(scenario.config, seed=budget.seed, time_budget_ms=budget.time_budget_ms)

    progress(f"genetic (compiled) and the pure-Python baseline in turns, {len(ga_scenarios)} scenarios")
    planners: dict[str, Planner] = {
        "genetic (compiled)": GeneticPlanner(),
        "genetic (pure-Python baseline)": PurePythonGeneticPlanner(),
        "random": RandomPlanner(),
    }
    rows = run_in_turns({"exact": ExactPlanner()}, public, 1)
    return rows + run_in_turns(planners, ga_scenarios, 1, ga_config)


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
    genetic = [r for r in rows if "genetic" in r.strategy]
    if len(genetic) == 2:
        fast, slow = genetic
        lines.append(
            f"genetic at equal budget: median gap {statistics.median(fast.gaps):.3g} (compiled) vs "
            f"{statistics.median(slow.gaps):.3g} (pure Python); iter/s = generations per second"
        )
    return "\n".join(lines)


#: Issue 11's targets for the exact planner in-process on the public set, CPU ms per plan.
P50_TARGET_MS = 0.1
P99_TARGET_MS = 2.0


def render_exact(table: ExactRows) -> str:
    """Per-plan CPU time of the exact planner, as ratios to its numpy predecessor in the same run."""
    header = (
        f"{'set':<14} {'plans':>5} {'proven':>9} {'max gap':>9} {'bound>opt':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'earlier p50':>11} {'earlier p99':>11} {'p50 ratio':>9} {'p99 ratio':>9}"
    )
    lines = [header, "-" * len(header)]
    for name, exact, earlier in table.sets:
        p50, p99 = quantile(exact.cpu, 0.5), quantile(exact.cpu, 0.99)
        base50, base99 = quantile(earlier.cpu, 0.5), quantile(earlier.cpu, 0.99)
        plans = len(exact.gaps)
        lines.append(
            f"{name:<14} {plans:>5} {f'{exact.proven}/{plans}':>9} {max(exact.gaps):>9.2g} "
            f"{exact.bound_violations:>9} {p50 * 1e3:>8.3f} {p99 * 1e3:>8.2f} {base50 * 1e3:>11.3f} "
            f"{base99 * 1e3:>11.2f} {p50 / base50:>9.3f} {p99 / base99:>9.3f}"
        )
    _, public, earlier = table.sets[0]
    lines += [
        f"CPU seconds of the planning thread per plan; ratio = exact / earlier (the numpy exact "
        f"planner it replaced, run in turns with it). Proven: score - own bound <= {TOLERANCE:g} x "
        f"max(1, |score|); the earlier planner claims no proof (public set: median gap "
        f"{statistics.median(earlier.gaps):.2g}, max {max(earlier.gaps):.2g}).",
        f"Targets (issue 11, public set): p50 <= {P50_TARGET_MS} ms, measured "
        f"{quantile(public.cpu, 0.5) * 1e3:.3f} ms; p99 <= {P99_TARGET_MS} ms, measured "
        f"{quantile(public.cpu, 0.99) * 1e3:.2f} ms.",
    ]
    return "\n".join(lines)
