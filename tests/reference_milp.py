"""Reference optimum by mixed-integer programming (HiGHS): slow, exact, for tests and benchmarks.

One MILP per plan length n: integer throttles u_k, binaries z_k (u_k > 0 needs z_k = 1),
distance error e+ - e- and speed excess s, minimising the score.
"""

from __future__ import annotations

import highspy
import numpy as np

from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem


def optimum(problem: Problem, config: PlannerConfig) -> float:
    return min(optimum_of_length(problem, config, n) for n in range(1, config.max_ticks + 1))


def optimum_of_length(problem: Problem, config: PlannerConfig, n: int) -> float:
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
    inf = highspy.kHighsInf
    columns = 2 * n + 3  # u (n), z (n), e+, e-, s
    for _ in range(n):
        h.addVar(low, high)
    for _ in range(n):
        h.addVar(0, 1)
    for _ in range(3):
        h.addVar(0, inf)
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
    u = np.round(np.array(h.getSolution().col_value)[:n]).astype(int)
    # Score the rounded solution exactly rather than trusting the solver's tolerances.
    from throttling_sequencer.domain.physics import score

    return score(problem, config, list(u)).total
