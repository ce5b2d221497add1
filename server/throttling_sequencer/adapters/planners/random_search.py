"""A cheap baseline: the best of a bounded number of uniformly random plans."""

from __future__ import annotations

import random

from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem, Strategy
from throttling_sequencer.domain.physics import score
from throttling_sequencer.domain.ports import PlannerResult, ProgressCallback, StopSignal


class RandomPlanner:
    strategy = Strategy.RANDOM

    def __init__(self, samples: int = 2_000) -> None:
        self.samples = samples

    def plan(
        self,
        problem: Problem,
        config: PlannerConfig,
        stop: StopSignal,
        on_progress: ProgressCallback | None = None,
    ) -> PlannerResult:
        rng = random.Random(config.seed)
        best: tuple[int, ...] = ()
        best_total = float("inf")
        drawn = 0
        while drawn < self.samples and not (drawn and stop.should_stop()):
            length = rng.randint(1, config.max_ticks)
            candidate = tuple(rng.randint(config.min_throttle, config.max_throttle) for _ in range(length))
            total = score(problem, config, candidate).total
            if total < best_total:
                best, best_total = candidate, total
                if on_progress is not None:
                    on_progress(best, drawn + 1, None)
            drawn += 1
        return PlannerResult(throttles=best, iterations=drawn)
