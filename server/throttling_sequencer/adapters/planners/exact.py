"""The exact strategy: plans proven within 1e-6 x max(1, |score|) of the optimum, from a compiled kernel.

Branch and bound over plan lengths and integer throttles (see `kernel/exact.py`): every length's
front-loaded relaxation bounds it, a fast rounding-and-tuning heuristic supplies the first
incumbent, and a depth-first search over the ticks closes the gap or proves that nothing better
exists. The bound left over is sound (floating-point rounding is charged to it), so a plan is
reported as proven optimal only when score - bound is within the tolerance.

The kernel releases the GIL and runs in slices of bounded work; between slices this wrapper polls
the stop signal and reports improved plans, so a deadline or cancel ends the search promptly with
the best plan so far and its honest bound.
"""

from __future__ import annotations

import math

from throttling_sequencer.adapters.planners.kernel.exact import Search
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem, Strategy
from throttling_sequencer.domain.physics import OPTIMALITY_TOLERANCE, score, within_tolerance
from throttling_sequencer.domain.ports import UNHEARD, Improvement, PlannerResult, ProgressSink, StopSignal

#: Work units per kernel slice (about 0.2 ms on this machine); the stop signal is polled between.
SLICE_WORK = 20_000


class ExactPlanner:
    strategy = Strategy.EXACT

    def plan(
        self,
        problem: Problem,
        config: PlannerConfig,
        stop: StopSignal,
        progress: ProgressSink = UNHEARD,
    ) -> PlannerResult:
        search = Search.start(problem, config, OPTIMALITY_TOLERANCE)
        if not search.within_range():
            return _unbounded(problem, config)
        while True:
            complete = search.step(SLICE_WORK)
            if search.take_improvement():
                progress.improved(Improvement(search.throttles, search.nodes, search.lower_bound()))
            if stop.should_stop() or complete:
                break
        total = search.score
        bound = min(search.lower_bound(), total)
        return PlannerResult(
            throttles=search.throttles,
            iterations=search.nodes,
            lower_bound=bound,
            proven_optimal=within_tolerance(total, bound),
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
