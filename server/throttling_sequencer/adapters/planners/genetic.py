"""The earlier service's genetic algorithm, same operators and parameters, compiled.

Individuals are variable-length integer throttle sequences. Each generation keeps the 20 best
and 10 random others as parents and fills the population with their offspring: one-point
crossover with a cut in each parent, then mutation that re-draws genes (rate 0.1) and may
delete one (rate 0.1). Fitness is the score, from the compiled simulation (bit-for-bit
`domain.physics`). The generation loop runs in `kernel.genetic` without the GIL, a slice of
generations at a time (about a millisecond each), so planner threads run in parallel and a
stop or cancel takes effect within a slice.

Unlike the earlier version it returns the best plan ever seen (parents survive, so that is
also the best of the last generation), reports improvements (checked after each slice), and
stops when its StopSignal says so. With a seed and no deadline cut it is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from throttling_sequencer.adapters.planners.kernel.genetic import evolve, seed_population
from throttling_sequencer.adapters.planners.kernel.rng import new_state
from throttling_sequencer.adapters.planners.kernel.simulation import problem_array, weights_array
from throttling_sequencer.adapters.planners.kernel.slicing import slices
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem, Strategy
from throttling_sequencer.domain.ports import UNHEARD, Improvement, PlannerResult, ProgressSink, StopSignal


@dataclass(frozen=True, slots=True)
class GeneticParameters:
    population: int = 600
    generations: int = 300
    mutation_rate: float = 0.1
    elite_parents: int = 20
    random_parents: int = 10


class GeneticPlanner:
    strategy = Strategy.GENETIC

    def __init__(self, parameters: GeneticParameters | None = None) -> None:
        self.parameters = parameters or GeneticParameters()

    def plan(
        self,
        problem: Problem,
        config: PlannerConfig,
        stop: StopSignal,
        progress: ProgressSink = UNHEARD,
    ) -> PlannerResult:
        p = self.parameters
        state = new_state(config.seed)
        physics, weights = problem_array(problem), weights_array(config)
        # Plain ints and floats, so every call matches the one signature warm_up compiled.
        low, high = int(config.min_throttle), int(config.max_throttle)
        elite, others, rate = int(p.elite_parents), int(p.random_parents), float(p.mutation_rate)
        genes = np.zeros((p.population, config.max_ticks), dtype=np.int32)
        lengths = np.zeros(p.population, dtype=np.int32)
        scores = np.zeros(p.population)
        seed_population(genes, lengths, scores, state, physics, weights, low, high)
        best_score = scores[0]
        progress.improved(Improvement(_plan(genes[0], lengths[0]), 0))

        generation = 0
        for count in slices(p.generations, stop):
            evolve(genes, lengths, scores, state, physics, weights, low, high, elite, others, rate, count)
            generation += count
            if scores[0] < best_score:
                best_score = scores[0]
                progress.improved(Improvement(_plan(genes[0], lengths[0]), generation))
        return PlannerResult(throttles=_plan(genes[0], lengths[0]), iterations=generation)


def _plan(genes: NDArray[np.int32], length: np.int32) -> tuple[int, ...]:
    return tuple(int(u) for u in genes[: int(length)])
