"""The simulator and score function against their definitions."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from tests.support import problem
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem
from throttling_sequencer.domain.physics import final_state, score, score_ceiling, simulate, speed_penalty

problems = st.builds(
    Problem,
    distance=st.floats(0, 1e6),
    initial_speed=st.floats(0, 1e3),
    mass=st.floats(1e-3, 1e6),
    friction=st.floats(0, 0.999),
)
plans = st.lists(st.integers(0, 300), min_size=1, max_size=100)


@given(problems, plans)
def test_simulation_matches_a_direct_loop(p: Problem, throttles: list[int]) -> None:
    speed, covered, expected = p.initial_speed, 0.0, []
    for u in throttles:
        speed = (speed + u / p.mass) * (1 - p.friction)
        covered += speed
        expected.append((speed, covered))
    states = list(simulate(p, throttles))
    assert [(s.speed, s.distance_covered) for s in states] == expected
    assert final_state(p, throttles) == expected[-1]
    assert [s.tick for s in states] == list(range(1, len(throttles) + 1))


@given(problems, plans)
def test_score_is_the_weighted_sum_of_its_parts(p: Problem, throttles: list[int]) -> None:
    config = PlannerConfig(distance_weight=2.0, speed_weight=0.25, length_weight=0.1, nonzero_weight=0.3)
    s = score(p, config, throttles)
    assert s.ticks == len(throttles)
    assert s.nonzero_ticks == sum(1 for u in throttles if u)
    assert math.isclose(
        s.total,
        2.0 * s.distance_error + 0.25 * s.speed_penalty + 0.1 * s.ticks + 0.3 * s.nonzero_ticks,
        rel_tol=1e-12,
        abs_tol=1e-12,
    )


extreme_problems = st.builds(
    Problem,
    distance=st.floats(0, 1e9),
    initial_speed=st.floats(0, 1e9),
    mass=st.floats(5e-324, 1e12),  # down to masses whose physics overflows
    friction=st.floats(0, 0.999999),
)
ceiling_configs = st.builds(
    PlannerConfig, max_throttle=st.integers(0, 10_000), max_ticks=st.integers(1, 1000)
)


@given(extreme_problems, ceiling_configs)
def test_the_score_ceiling_is_its_definition_over_the_simulation(p: Problem, config: PlannerConfig) -> None:
    fastest = covered = 0.0
    for tick in simulate(p, [config.max_throttle] * config.max_ticks):
        fastest, covered = max(fastest, tick.speed), tick.distance_covered
    magnitude = p.distance + covered + fastest + config.speed_threshold
    weights = (config.distance_weight + config.speed_weight, config.length_weight + config.nonzero_weight)
    expected = weights[0] * magnitude + weights[1] * config.max_ticks
    assert repr(score_ceiling(p, config)) == repr(expected)  # bit for bit, inf and nan included


@given(problems, plans)
def test_no_plan_scores_above_the_ceiling(p: Problem, throttles: list[int]) -> None:
    config = PlannerConfig(max_throttle=300, max_ticks=100)
    assert score(p, config, throttles).total <= score_ceiling(p, config)


def test_default_payload_known_values() -> None:
    # One tick of full throttle from rest: v1 = 300/10 * 0.99 = 29.7.
    s = score(problem(), PlannerConfig(), [300])
    assert math.isclose(s.distance_error, 5000 - 29.7)
    assert math.isclose(s.speed_penalty, 29.7 - 5)
    assert math.isclose(s.total, (5000 - 29.7) + 0.5 * (29.7 - 5) + 0.01 + 0.01)


def test_frictionless_unit_keeps_its_speed() -> None:
    p = problem(distance=100, speed=3.0, friction=0.0)
    assert final_state(p, [0, 0, 0, 0]) == (3.0, 12.0)


def test_speed_penalty_is_free_inside_the_threshold() -> None:
    assert speed_penalty(0.0, 5.0) == 0.0
    assert speed_penalty(5.0, 5.0) == 0.0
    assert speed_penalty(7.5, 5.0) == 2.5
