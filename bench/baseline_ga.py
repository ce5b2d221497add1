"""Baseline for `make bench`: the earlier service's genetic algorithm in pure Python.

The service's GENETIC strategy is the compiled version of this (same operators and parameters);
this one stays as the yardstick its speed is measured against, in the same process.

Individuals are variable-length integer throttle sequences. Each generation keeps the 20 best
and 10 random others as parents and fills the population with their offspring: one-point
crossover with a cut in each parent, then mutation that re-draws genes and may delete one.
Unlike the earlier version it returns the best plan ever seen (parents survive, so that is the
best of the last generation too) and stops when its StopSignal says so.
"""

from __future__ import annotations

import random

from throttling_sequencer.adapters.planners.genetic import GeneticParameters
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem, Strategy
from throttling_sequencer.domain.physics import score
from throttling_sequencer.domain.ports import UNHEARD, PlannerResult, ProgressSink, StopSignal


class PurePythonGeneticPlanner:
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
        rng = random.Random(config.seed)
        low, high, max_ticks = config.min_throttle, config.max_throttle, config.max_ticks

        def fitness(individual: list[int]) -> float:
            return score(problem, config, individual).total

        def random_individual() -> list[int]:
            return [rng.randint(low, high) for _ in range(rng.randint(1, max_ticks))]

        def crossover(a: list[int], b: list[int]) -> list[int]:
            child = a[: rng.randint(0, len(a))] + b[rng.randint(0, len(b)) :]
            return child[:max_ticks] or [rng.randint(low, high)]

        def mutate(individual: list[int]) -> list[int]:
            genes = [rng.randint(low, high) if rng.random() < p.mutation_rate else g for g in individual]
            if len(genes) > 1 and rng.random() < p.mutation_rate:
                del genes[rng.randrange(len(genes))]
            return genes

        population = [random_individual() for _ in range(p.population)]
        ranked = sorted(population, key=fitness)
        generation = 0
        while generation < p.generations and not stop.should_stop():
            elite = ranked[: p.elite_parents]
            others = ranked[p.elite_parents :]
            parents = elite + rng.sample(others, min(p.random_parents, len(others)))
            children = [
                mutate(crossover(rng.choice(parents), rng.choice(parents)))
                for _ in range(p.population - len(parents))
            ]
            ranked = sorted(parents + children, key=fitness)
            generation += 1
        return PlannerResult(throttles=tuple(ranked[0]), iterations=generation)
