"""The earlier service's genetic algorithm, vectorised with numpy, same operators and parameters.

Individuals are variable-length integer throttle sequences, held as rows of a population
matrix padded with zeros past each row's length. Each generation keeps the 20 best and 10
random others as parents and fills the population with their offspring: one-point crossover
with a cut in each parent, then mutation that re-draws genes (rate 0.1) and may delete one
(rate 0.1). Fitness is the score, computed for the whole population at once from the
closed form D = A_n + sum a_k u_k, v_n = B_n + sum b_k u_k.

Unlike the earlier version it returns the best plan ever seen (parents survive, so that is
also the best of the last generation), reports each improvement, and stops when its
StopSignal says so. With a seed and no deadline cut it is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem, Strategy
from throttling_sequencer.domain.ports import PlannerResult, ProgressCallback, StopSignal

IntMatrix = NDArray[np.int32]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class GeneticParameters:
    population: int = 600
    generations: int = 300
    mutation_rate: float = 0.1
    elite_parents: int = 20
    random_parents: int = 10


class Fitness:
    """Scores whole populations: row i is a plan of lengths[i] ticks (genes past it are ignored)."""

    def __init__(self, problem: Problem, config: PlannerConfig) -> None:
        big_n = config.max_ticks
        r = 1.0 - problem.friction
        powers = r ** np.arange(1, big_n + 1)
        sums = np.cumsum(powers)
        n = np.arange(1, big_n + 1)[:, None]
        k = np.arange(big_n)[None, :]
        left = n - k  # ticks from tick k to the end, inclusive
        inside = left >= 1
        # Row n - 1 holds the coefficients of a plan of n ticks.
        self.a = np.where(inside, sums[np.clip(left - 1, 0, None)], 0.0) / problem.mass
        self.b = np.where(inside, powers[np.clip(left - 1, 0, None)], 0.0) / problem.mass
        self.base_distance = problem.initial_speed * sums
        self.base_speed = problem.initial_speed * powers
        self.problem = problem
        self.config = config
        self.ticks = np.arange(big_n)

    def __call__(self, genes: IntMatrix, lengths: NDArray[np.int32]) -> FloatArray:
        """Scores of every row; genes past a row's length must be zero."""
        c = self.config
        rows = lengths - 1
        distance = self.base_distance[rows] + np.einsum("ij,ij->i", self.a[rows], genes)
        speed = self.base_speed[rows] + np.einsum("ij,ij->i", self.b[rows], genes)
        nonzero = np.count_nonzero(genes, axis=1)  # genes past a plan's length are kept at zero
        penalty = np.where(
            (speed >= 0) & (speed <= c.speed_threshold), 0.0, np.abs(speed - c.speed_threshold)
        )
        total: FloatArray = (
            c.distance_weight * np.abs(self.problem.distance - distance)
            + c.speed_weight * penalty
            + c.length_weight * lengths
            + c.nonzero_weight * nonzero
        )
        return total


class GeneticPlanner:
    strategy = Strategy.GENETIC

    def __init__(self, parameters: GeneticParameters | None = None) -> None:
        self.parameters = parameters or GeneticParameters()

    def plan(
        self,
        problem: Problem,
        config: PlannerConfig,
        stop: StopSignal,
        on_progress: ProgressCallback | None = None,
    ) -> PlannerResult:
        p = self.parameters
        rng = np.random.default_rng(config.seed)
        low, high, big_n = config.min_throttle, config.max_throttle, config.max_ticks
        ticks = np.arange(big_n, dtype=np.int32)[None, :]
        fitness = Fitness(problem, config)

        def draw(shape: tuple[int, ...]) -> IntMatrix:
            return rng.integers(low, high + 1, size=shape, dtype=np.int32)

        lengths = rng.integers(1, big_n + 1, size=p.population, dtype=np.int32)
        genes = np.where(ticks < lengths[:, None], draw((p.population, big_n)), 0)
        scores = fitness(genes, lengths)
        order = np.argsort(scores, kind="stable")
        genes, lengths, scores = genes[order], lengths[order], scores[order]
        best_score = float(scores[0])
        if on_progress is not None:
            on_progress(_plan(genes[0], lengths[0]), 0, None)

        generation = 0
        children = p.population - p.elite_parents - p.random_parents
        while generation < p.generations and not stop.should_stop():
            # Parents: the best, plus a few random others.
            others = p.elite_parents + rng.choice(
                p.population - p.elite_parents, size=p.random_parents, replace=False
            )
            parent_rows = np.concatenate([np.arange(p.elite_parents), others])
            parent_genes, parent_lengths = genes[parent_rows], lengths[parent_rows]

            # One-point crossover with a cut in each parent: child = a[:i] + b[j:].
            first = rng.integers(0, len(parent_rows), size=children)
            second = rng.integers(0, len(parent_rows), size=children)
            cut_a = rng.integers(0, parent_lengths[first] + 1, dtype=np.int32)
            cut_b = rng.integers(0, parent_lengths[second] + 1, dtype=np.int32)
            child_lengths = np.minimum(cut_a + parent_lengths[second] - cut_b, big_n)
            from_b = np.clip(ticks - cut_a[:, None] + cut_b[:, None], 0, big_n - 1)
            from_b += (second * big_n).astype(np.int32)[:, None]
            child = np.where(ticks < cut_a[:, None], parent_genes[first], parent_genes.ravel()[from_b])
            child = np.where(ticks < child_lengths[:, None], child, 0)
            empty = child_lengths == 0
            child_lengths = np.where(empty, 1, child_lengths)
            child[empty, 0] = draw((int(empty.sum()),))

            # Mutation: re-draw genes, then maybe delete one.
            redraw = (rng.random(child.shape, dtype=np.float32) < p.mutation_rate) & (
                ticks < child_lengths[:, None]
            )
            child[redraw] = draw((int(np.count_nonzero(redraw)),))
            delete = np.flatnonzero((rng.random(children) < p.mutation_rate) & (child_lengths > 1))
            position = rng.integers(0, child_lengths[delete])[:, None]
            after = np.minimum(ticks + (ticks >= position), big_n - 1)
            child[delete] = np.take_along_axis(child[delete], after, axis=1)
            child_lengths[delete] -= 1
            child[delete, child_lengths[delete]] = 0  # the last gene moved left; clear its old place

            genes = np.concatenate([parent_genes, child])
            lengths = np.concatenate([parent_lengths, child_lengths])
            scores = fitness(genes, lengths)
            order = np.argsort(scores, kind="stable")
            genes, lengths, scores = genes[order], lengths[order], scores[order]
            generation += 1
            if scores[0] < best_score:
                best_score = float(scores[0])
                if on_progress is not None:
                    on_progress(_plan(genes[0], lengths[0]), generation, None)
        return PlannerResult(throttles=_plan(genes[0], lengths[0]), iterations=generation)


def _plan(genes: NDArray[np.int32], length: np.int32) -> tuple[int, ...]:
    return tuple(int(u) for u in genes[: int(length)])
