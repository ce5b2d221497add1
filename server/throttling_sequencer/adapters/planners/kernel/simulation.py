"""The physics of domain/physics.py, compiled: same operations in the same order, so the same bits.

`domain.physics` stays the readable definition; tests hold these kernels to it exactly. A
problem travels as PROBLEM = [distance, initial_speed, mass, friction] and the score's
parameters as WEIGHTS = [distance_weight, speed_weight, length_weight, nonzero_weight,
speed_threshold] (see `problem_array`, `weights_array`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from throttling_sequencer.adapters.planners.kernel.jit import kernel
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem

FloatArray = NDArray[np.float64]
Throttles = NDArray[np.int64]
#: Plans as rows of a matrix (row i's throttles up to its length); int32 or int64.
Plans = NDArray[np.int32] | NDArray[np.int64]


def problem_array(problem: Problem) -> FloatArray:
    return np.array([problem.distance, problem.initial_speed, problem.mass, problem.friction])


def weights_array(config: PlannerConfig) -> FloatArray:
    c = config
    return np.array([c.distance_weight, c.speed_weight, c.length_weight, c.nonzero_weight, c.speed_threshold])


@kernel
def run(problem: FloatArray, plans: Plans, row: int, length: int) -> tuple[float, float, int]:
    """(final speed, distance covered, nonzero throttles) of PLANS[row, :length]: physics.final_state."""
    keep = 1.0 - problem[3]
    mass = problem[2]
    speed = problem[1]
    covered = 0.0
    nonzero = 0
    for t in range(length):
        throttle = plans[row, t]
        speed = (speed + throttle / mass) * keep
        covered += speed
        if throttle != 0:
            nonzero += 1
    return speed, covered, nonzero


@kernel
def total_of(problem: FloatArray, weights: FloatArray, plans: Plans, row: int, length: int) -> float:
    """The score of PLANS[row, :length]: physics.score(...).total."""
    speed, covered, nonzero = run(problem, plans, row, length)
    threshold = weights[4]
    penalty = 0.0 if 0.0 <= speed <= threshold else abs(speed - threshold)
    total: float = (
        weights[0] * abs(problem[0] - covered)
        + weights[1] * penalty
        + weights[2] * float(length)
        + weights[3] * float(nonzero)
    )
    return total


@kernel
def simulate(problem: FloatArray, throttles: Throttles) -> tuple[FloatArray, FloatArray]:
    """Speed and distance covered after each tick (physics.simulate)."""
    keep = 1.0 - problem[3]
    mass = problem[2]
    speed = problem[1]
    covered = 0.0
    n = throttles.shape[0]
    speeds = np.empty(n)
    distances = np.empty(n)
    for t in range(n):
        speed = (speed + throttles[t] / mass) * keep
        covered += speed
        speeds[t] = speed
        distances[t] = covered
    return speeds, distances


@kernel
def final_state(problem: FloatArray, throttles: Throttles) -> tuple[float, float]:
    n = throttles.shape[0]
    speed, covered, _ = run(problem, throttles.reshape((1, n)), 0, n)
    return speed, covered


@kernel
def score(problem: FloatArray, weights: FloatArray, throttles: Throttles) -> float:
    n = throttles.shape[0]
    return total_of(problem, weights, throttles.reshape((1, n)), 0, n)


def warm_up() -> None:
    """Compile or load the public kernels for plans as int64 arrays."""
    problem, weights, plan = np.ones(4), np.ones(5), np.ones(2, dtype=np.int64)
    simulate(problem, plan)
    final_state(problem, plan)
    score(problem, weights, plan)
