"""A larger sweep against the reference MILP: up to 12 ticks, every hard kind (marker `oracle`).

`make test` runs it (CI too); `pytest -m "not oracle"` skips it for a quicker local loop.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reference_milp import reference
from tests.unit.planners.test_exact import assert_proven_optimal, hard_problems, run
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem

pytestmark = pytest.mark.oracle

longer_configs = st.builds(
    PlannerConfig,
    distance_weight=st.sampled_from([1.0, 1.0, 0.1, 3.0]),
    speed_weight=st.sampled_from([0.5, 0.0, 3.0, 0.01]),
    length_weight=st.sampled_from([0.01, 0.0, 1.0]),
    nonzero_weight=st.sampled_from([0.01, 0.0, 0.3]),
    speed_threshold=st.sampled_from([5.0, 0.0, 50.0]),
    min_throttle=st.sampled_from([0, 0, 0, 3]),
    max_throttle=st.sampled_from([300, 300, 40]),
    max_ticks=st.integers(8, 12),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hard_problems(longer_configs))
def test_proven_optimal_against_the_milp_up_to_12_ticks(case: tuple[Problem, PlannerConfig]) -> None:
    p, config = case
    result, total = run(p, config)
    assert_proven_optimal(result, total, reference(p, config))
