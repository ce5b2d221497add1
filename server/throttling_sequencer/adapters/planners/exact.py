"""The exact strategy: plans proven within 1e-6 x max(1, |score|) of the optimum, from a compiled kernel.

Branch and bound over plan lengths and integer throttles (see `exact_kernel`): every length's
front-loaded relaxation bounds it, a fast rounding-and-tuning heuristic supplies the first
incumbent, and a depth-first search over the ticks closes the gap or proves that nothing better
exists. The bound left over is sound (floating-point rounding is charged to it), so a plan is
reported as proven optimal only when the search finished with score - bound within the tolerance.

The kernel releases the GIL and runs in slices of bounded work; between slices this wrapper polls
the stop signal and reports improved plans, so a deadline or cancel ends the search promptly with
the best plan so far and its honest bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from throttling_sequencer.adapters.planners import exact_kernel as kernel
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem, Strategy
from throttling_sequencer.domain.physics import score
from throttling_sequencer.domain.ports import PlannerResult, ProgressCallback, StopSignal

#: Relative tolerance of "proven optimal": score - lower bound <= TOLERANCE x max(1, |score|).
TOLERANCE = 1e-6
#: Work units per kernel slice (roughly 20-60 microseconds); the stop signal is polled between.
SLICE_WORK = 20_000
#: Beyond this magnitude the kernel's arithmetic has no headroom: plan without a proof.
MAX_MAGNITUDE = 1e290


def kernel_params(problem: Problem, config: PlannerConfig) -> NDArray[np.float64]:
    """The kernel's view of a request: the problem, the score's weights and the plan's bounds."""
    params = np.zeros(kernel.N_PARAMS)
    params[kernel.P_DIST] = problem.distance
    params[kernel.P_V0] = problem.initial_speed
    params[kernel.P_MASS] = problem.mass
    params[kernel.P_FRIC] = problem.friction
    params[kernel.P_WD] = config.distance_weight
    params[kernel.P_WS] = config.speed_weight
    params[kernel.P_WL] = config.length_weight
    params[kernel.P_WZ] = config.nonzero_weight
    params[kernel.P_THR] = config.speed_threshold
    params[kernel.P_LOW] = config.min_throttle
    params[kernel.P_SPAN] = config.max_throttle - config.min_throttle
    params[kernel.P_NMAX] = config.max_ticks
    params[kernel.P_TOL] = TOLERANCE
    return params


@dataclass
class Search:
    """The kernel's state for one plan request (all of it lives in these arrays)."""

    params: NDArray[np.float64]
    tables: NDArray[np.float64]
    order: NDArray[np.int64]
    state_i: NDArray[np.int64]
    state_f: NDArray[np.float64]
    frames_f: NDArray[np.float64]
    frames_i: NDArray[np.int64]
    incumbent: NDArray[np.int64]
    scratch: NDArray[np.int64]
    work_w: NDArray[np.int64]
    base: NDArray[np.int64]
    table_v: NDArray[np.float64]
    table_k: NDArray[np.int64]

    @classmethod
    def start(cls, problem: Problem, config: PlannerConfig) -> Search:
        n_max = config.max_ticks
        params = kernel_params(problem, config)
        singles = n_max * (config.max_throttle - config.min_throttle)
        table = singles if singles <= kernel.SINGLE_TABLE_MAX else 0
        search = cls(
            params=params,
            tables=np.zeros((kernel.T_ROWS, n_max + 1)),
            order=np.zeros(n_max, dtype=np.int64),
            state_i=np.zeros(kernel.N_STATE_I, dtype=np.int64),
            state_f=np.zeros(kernel.N_STATE_F),
            frames_f=np.zeros((n_max, kernel.N_FRAME_F)),
            frames_i=np.zeros((n_max, kernel.N_FRAME_I), dtype=np.int64),
            incumbent=np.zeros(n_max, dtype=np.int64),
            scratch=np.zeros(n_max, dtype=np.int64),
            work_w=np.zeros(n_max, dtype=np.int64),
            base=np.zeros(n_max, dtype=np.int64),
            table_v=np.empty(table),
            table_k=np.empty(table, dtype=np.int64),
        )
        kernel.prepare(search.params, search.tables, search.order, search.state_i, search.state_f)
        return search

    def within_range(self) -> bool:
        """Whether every quantity a plan can produce stays far from overflow."""
        p, t = self.params, self.tables
        n = int(p[kernel.P_NMAX])
        span = p[kernel.P_SPAN]
        distance = abs(p[kernel.P_DIST]) + t[kernel.T_AN, n] + span * t[kernel.T_CAH, n]
        speed = p[kernel.P_THR] + t[kernel.T_BN, n] + span * t[kernel.T_CBH, n]
        weights = p[kernel.P_WD] + p[kernel.P_WS] + p[kernel.P_WL] + p[kernel.P_WZ]
        magnitude = (weights + 1.0) * (distance + speed + n)
        return bool(np.isfinite(t).all()) and math.isfinite(magnitude) and magnitude < MAX_MAGNITUDE

    def step(self, work: int) -> bool:
        """One slice; True once the search is complete."""
        phase = kernel.run(
            self.params,
            self.tables,
            self.order,
            self.state_i,
            self.state_f,
            self.frames_f,
            self.frames_i,
            self.incumbent,
            self.scratch,
            self.work_w,
            self.base,
            self.table_v,
            self.table_k,
            work,
        )
        return int(phase) == kernel.PHASE_DONE

    def take_improvement(self) -> bool:
        improved = bool(self.state_i[kernel.S_IMPROVED])
        self.state_i[kernel.S_IMPROVED] = 0
        return improved

    @property
    def throttles(self) -> tuple[int, ...]:
        n = int(self.state_i[kernel.S_INC_LEN])
        return tuple(int(u) for u in self.incumbent[:n])

    @property
    def nodes(self) -> int:
        return int(self.state_i[kernel.S_NODES])

    def lower_bound(self) -> float:
        return float(kernel.lower_bound(self.params, self.tables, self.order, self.state_i, self.state_f))


class ExactPlanner:
    strategy = Strategy.EXACT

    def plan(
        self,
        problem: Problem,
        config: PlannerConfig,
        stop: StopSignal,
        on_progress: ProgressCallback | None = None,
    ) -> PlannerResult:
        search = Search.start(problem, config)
        if not search.within_range():
            return _unbounded(problem, config)
        complete = False
        while True:
            complete = search.step(SLICE_WORK)
            if search.take_improvement() and on_progress is not None:
                on_progress(search.throttles, search.nodes, search.lower_bound())
            if complete or stop.should_stop():
                break
        throttles = search.throttles
        total = score(problem, config, throttles).total
        bound = min(search.lower_bound(), total)
        proven = total - bound <= TOLERANCE * max(1.0, abs(total))
        return PlannerResult(
            throttles=throttles, iterations=search.nodes, lower_bound=bound, proven_optimal=proven
        )


def _unbounded(problem: Problem, config: PlannerConfig) -> PlannerResult:
    """Magnitudes near overflow (a vanishing mass): the best of the simplest plans, bound 0."""
    candidates = [
        (config.min_throttle,),
        (config.max_throttle,),
        (config.min_throttle,) * config.max_ticks,
        (config.max_throttle,) * config.max_ticks,
    ]

    def key(plan: tuple[int, ...]) -> float:
        total = score(problem, config, plan).total
        return total if math.isfinite(total) else math.inf

    best = min(candidates, key=key)
    return PlannerResult(throttles=best, iterations=0, lower_bound=0.0, proven_optimal=False)


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel signature the planner uses."""
    from throttling_sequencer.domain.ports import StopSignal as _Stop

    problem = Problem(distance=500.0, initial_speed=1.0, mass=10.0, friction=0.1)
    ExactPlanner().plan(problem, PlannerConfig(max_ticks=12), _Stop(math.inf))
    kernel.simulate(np.zeros(kernel.N_PARAMS) + 1.0, np.zeros(2, dtype=np.int64), np.zeros(2), np.zeros(2))
