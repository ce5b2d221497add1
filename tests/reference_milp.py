"""Reference optimum by mixed-integer programming (HiGHS): slow, exact, independent of the planner.

One MILP per plan length n: integer throttles u_k, binaries z_k (u_k > 0 needs z_k = 1),
distance error e+ - e- and speed excess s, minimising the score. Lengths are solved in order of
their LP relaxation, and a length whose LP bound cannot beat the best plan found is skipped; its
LP bound still counts towards the proven bound. The reported optimum is the best solution
re-scored by domain.physics (not the solver's objective), so it is an achievable score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import highspy
import numpy as np

from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem
from throttling_sequencer.domain.physics import score

#: What the solver's tolerances can hide, relative to max(1, |optimum|), besides the difference
#: between its objective and the exact score of its rounded solution (charged separately).
RELATIVE_SLACK = 1e-9


class ReferenceTimeout(RuntimeError):
    """The solver ran out of its time limit: no reference for this problem (not a planner fault)."""


@dataclass(frozen=True)
class Reference:
    optimum: float
    #: The solver's proven bound: no plan scores below it (up to `slack`).
    bound: float
    #: How far the solver's own tolerances may put `optimum` above the true optimum.
    slack: float
    throttles: tuple[int, ...]


def optimum(problem: Problem, config: PlannerConfig) -> float:
    return reference(problem, config).optimum


def reference(problem: Problem, config: PlannerConfig, time_limit: float = 300.0) -> Reference:
    lengths = range(1, config.max_ticks + 1)
    lp = {n: _solve(problem, config, n, relax=True, time_limit=time_limit)[1] for n in lengths}
    best: tuple[float, tuple[int, ...]] = (math.inf, ())
    bound = math.inf
    rounding = 0.0
    for n in sorted(lengths, key=lambda n: lp[n]):
        if lp[n] >= best[0]:
            bound = min(bound, lp[n])
            continue
        throttles, length_bound, objective = _solve(problem, config, n, relax=False, time_limit=time_limit)
        bound = min(bound, length_bound)
        total = score(problem, config, throttles).total
        rounding = max(rounding, abs(total - objective))
        if total < best[0]:
            best = (total, throttles)
    bound = min(bound, best[0])
    slack = RELATIVE_SLACK * max(1.0, abs(best[0])) + rounding
    return Reference(optimum=best[0], bound=bound, slack=slack, throttles=best[1])


def _solve(
    problem: Problem, config: PlannerConfig, n: int, relax: bool, time_limit: float
) -> tuple[tuple[int, ...], float, float]:
    """The best plan of length n (rounded, or () when relaxed), the solver's proven bound, and
    its objective (both with the length term)."""
    r = 1.0 - problem.friction
    left = np.arange(n, 0, -1)
    sums = np.cumsum(r ** np.arange(1, n + 1))
    a = sums[left - 1] / problem.mass
    b = r**left / problem.mass
    distance0 = problem.initial_speed * sums[n - 1]
    speed0 = problem.initial_speed * r**n
    low, high = config.min_throttle, config.max_throttle

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 1e-12)
    h.setOptionValue("mip_feasibility_tolerance", 1e-9)
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.setOptionValue("time_limit", time_limit)
    inf = highspy.kHighsInf
    columns = 2 * n + 3  # u (n), z (n), e+, e-, s
    for _ in range(n):
        h.addVar(low, high)
    for _ in range(n):
        h.addVar(0, 1)
    for _ in range(3):
        h.addVar(0, inf)
    if not relax:
        h.changeColsIntegrality(
            2 * n, np.arange(2 * n, dtype=np.int32), np.array([highspy.HighsVarType.kInteger] * (2 * n))
        )
    cost = np.zeros(columns)
    cost[n : 2 * n] = config.nonzero_weight
    cost[2 * n : 2 * n + 2] = config.distance_weight
    cost[2 * n + 2] = config.speed_weight
    h.changeColsCost(columns, np.arange(columns, dtype=np.int32), cost)
    target = problem.distance - distance0
    index = np.array([*range(n), 2 * n, 2 * n + 1], dtype=np.int32)
    h.addRow(target, target, len(index), index, np.array([*a, -1.0, 1.0]))
    index = np.array([*range(n), 2 * n + 2], dtype=np.int32)
    h.addRow(-inf, config.speed_threshold - speed0, len(index), index, np.array([*b, -1.0]))
    for k in range(n):
        h.addRow(-inf, 0, 2, np.array([k, n + k], dtype=np.int32), np.array([1.0, -float(high)]))
    h.run()
    info = h.getInfo()
    fixed = config.length_weight * n
    if relax:
        value = info.objective_function_value + fixed
        return (), value, value
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kTimeLimit:
        raise ReferenceTimeout(f"HiGHS did not prove length {n} optimal within {time_limit} s")
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS did not prove length {n} optimal: {h.modelStatusToString(status)}")
    u = np.clip(np.round(np.array(h.getSolution().col_value)[:n]), low, high).astype(int)
    objective = info.objective_function_value + fixed
    return tuple(int(x) for x in u), min(info.mip_dual_bound + fixed, objective), objective
