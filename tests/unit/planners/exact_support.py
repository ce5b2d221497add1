"""What the exact planner's tests share: running it, checking its claim, problems of the hard kinds.

"Proven" means score - lower_bound <= 1e-6 x max(1, |score|) with a lower bound that never exceeds
the true optimum; the reference MILP (tests/reference_milp.py) is the independent referee.
"""

from __future__ import annotations

import time

from hypothesis import strategies as st

from tests.reference_milp import Reference
from throttling_sequencer.adapters.planners.exact import ExactPlanner
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem
from throttling_sequencer.domain.physics import OPTIMALITY_TOLERANCE, score, simulate
from throttling_sequencer.domain.ports import PlannerResult, StopSignal

#: A budget no test case needs: a guard against a search that never ends, not a timing threshold.
AMPLE_SECONDS = 60.0


def run(p: Problem, config: PlannerConfig, seconds: float = AMPLE_SECONDS) -> tuple[PlannerResult, float]:
    """Plan, check the plan is valid and the bound below its score; return it and its score."""
    result = ExactPlanner().plan(p, config, StopSignal(time.monotonic() + seconds))
    assert 1 <= len(result.throttles) <= config.max_ticks
    assert all(config.min_throttle <= u <= config.max_throttle for u in result.throttles)
    total = score(p, config, result.throttles).total
    assert result.lower_bound is not None
    assert result.lower_bound <= total
    return result, total


def tolerance(value: float) -> float:
    return OPTIMALITY_TOLERANCE * max(1.0, abs(value))


def assert_sound(result: PlannerResult, total: float, ref: Reference) -> None:
    """The bound never exceeds the optimum, and a plan claimed optimal is as good as the MILP's."""
    assert result.lower_bound is not None
    assert result.lower_bound <= ref.optimum, f"bound {result.lower_bound!r} > optimum {ref.optimum!r}"
    if result.proven_optimal:
        assert total <= ref.optimum + tolerance(ref.optimum) + ref.slack


def assert_proven_optimal(result: PlannerResult, total: float, ref: Reference) -> None:
    """Sound, as good as the MILP, proven, and tight: the bound is within the tolerance too.

    Not asserted: that the MILP's optimum is within the tolerance of the planner's bound. Its
    feasibility tolerances can leave it above the true optimum (distance 3e-5 at mass 1e5: HiGHS
    answered 0.010003, the planner proved 0.010000000006), and the plan's own score already
    sits within the tolerance of the bound.
    """
    assert_sound(result, total, ref)
    bound = result.lower_bound
    assert bound is not None
    assert total <= ref.optimum + tolerance(ref.optimum)
    assert result.proven_optimal
    assert total - bound <= tolerance(total)


# Weighted towards the hard kinds: tiny masses (one throttle unit moves the speed by 3-100),
# friction 0 and near 1, sub-unit distances, starts at or above the threshold, units too heavy to
# arrive, odd weights and a throttle floor. Distances are drawn relative to the reachable one.
masses = st.one_of(st.floats(0.01, 0.3), st.floats(0.3, 100.0), st.floats(1e3, 1e6))
#: Frictions the planner proves: none (or so little that 1 - f rounds to 1), and from 1e-5 up.
frictions = st.one_of(
    st.just(0.0),
    st.floats(0.0, 1e-17),
    st.floats(1e-5, 0.5),
    st.sampled_from([0.9, 0.99, 0.9961, 0.999]),
)
#: Between those, with tiny masses, completions buy distances within a fraction of 1/m of a
#: lattice the bound only partly sees: proofs can outlast the budget (README: limits).
near_frictionless = st.floats(1e-16, 1e-5)
speeds = st.one_of(st.just(0.0), st.floats(0.0, 10.0), st.floats(5.0, 60.0))
reach_fractions = st.one_of(st.floats(0.0, 0.05), st.floats(0.02, 1.0), st.floats(1.0, 1.3))


def proof_configs(max_ticks: st.SearchStrategy[int]) -> st.SearchStrategy[PlannerConfig]:
    """Options whose tolerance (1e-6 / distance weight) stays above the distances' resolution."""
    return st.builds(
        PlannerConfig,
        distance_weight=st.sampled_from([1.0, 1.0, 0.1, 3.0]),
        speed_weight=st.sampled_from([0.5, 0.0, 3.0, 0.01]),
        length_weight=st.sampled_from([0.01, 0.0, 1.0]),
        nonzero_weight=st.sampled_from([0.01, 0.0, 0.3]),
        speed_threshold=st.sampled_from([5.0, 0.0, 50.0]),
        min_throttle=st.sampled_from([0, 0, 0, 3]),
        max_throttle=st.sampled_from([300, 300, 40]),
        max_ticks=max_ticks,
    )


def extreme_configs(max_ticks: st.SearchStrategy[int]) -> st.SearchStrategy[PlannerConfig]:
    """Weights up to 1e6 and throttle ranges from one value to 10,000."""
    return st.builds(
        PlannerConfig,
        distance_weight=st.sampled_from([1e6, 1e3, 0.0, 1e-3]),
        speed_weight=st.sampled_from([1e6, 0.0, 0.5]),
        length_weight=st.sampled_from([1e6, 0.0, 0.01]),
        nonzero_weight=st.sampled_from([1e6, 0.0, 0.01]),
        speed_threshold=st.sampled_from([0.0, 1e6, 5.0]),
        min_throttle=st.sampled_from([0, 0, 1]),
        max_throttle=st.sampled_from([300, 1, 10_000]),
        max_ticks=max_ticks,
    )


@st.composite
def hard_problems(
    draw: st.DrawFn,
    configs: st.SearchStrategy[PlannerConfig],
    friction: st.SearchStrategy[float] = frictions,
) -> tuple[Problem, PlannerConfig]:
    config = draw(configs)
    unit = Problem(0.0, draw(speeds), draw(masses), draw(friction))
    reach = reach_of(unit, config)
    distance = draw(st.one_of(st.floats(0.0, 1.0), reach_fractions.map(lambda f: f * reach)))
    return Problem(distance, unit.initial_speed, unit.mass, unit.friction), config


def reach_of(p: Problem, config: PlannerConfig) -> float:
    """The farthest any plan goes: max_throttle on every tick."""
    states = list(simulate(p, [config.max_throttle] * config.max_ticks))
    return states[-1].distance_covered
