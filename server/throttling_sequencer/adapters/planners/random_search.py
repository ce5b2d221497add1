"""A cheap baseline: the best of a bounded number of uniformly random plans.

Sampling runs in `kernel.random_search` without the GIL, a slice at a time, checking the
StopSignal and reporting an improvement after each slice. The first plan is always drawn, so
even a cancelled search returns one.
"""

from __future__ import annotations

import numpy as np

from throttling_sequencer.adapters.planners.kernel.random_search import sample
from throttling_sequencer.adapters.planners.kernel.rng import new_state
from throttling_sequencer.adapters.planners.kernel.simulation import problem_array, weights_array
from throttling_sequencer.adapters.planners.kernel.slicing import slices
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem, Strategy
from throttling_sequencer.domain.ports import UNHEARD, Improvement, PlannerResult, ProgressSink, StopSignal


class RandomPlanner:
    strategy = Strategy.RANDOM

    def __init__(self, samples: int = 2_000) -> None:
        self.samples = samples

    def plan(
        self,
        problem: Problem,
        config: PlannerConfig,
        stop: StopSignal,
        progress: ProgressSink = UNHEARD,
    ) -> PlannerResult:
        state = new_state(config.seed)
        physics, weights = problem_array(problem), weights_array(config)
        low, high = int(config.min_throttle), int(config.max_throttle)
        best = np.zeros(config.max_ticks, dtype=np.int64)
        length, total, drawn = 0, float("inf"), 0

        def draw(count: int) -> None:
            nonlocal length, total, drawn
            length, total, improved_at = sample(
                state, physics, weights, low, high, count, best, length, total
            )
            if improved_at >= 0:
                progress.improved(Improvement(tuple(int(u) for u in best[:length]), drawn + improved_at + 1))
            drawn += count

        draw(1)
        for count in slices(self.samples - 1, stop):
            draw(count)
        return PlannerResult(throttles=tuple(int(u) for u in best[:length]), iterations=drawn)
