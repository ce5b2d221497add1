from __future__ import annotations

from throttling_sequencer.domain.config import BOUNDS, PlannerConfig
from throttling_sequencer.domain.model import PlannerOverrides, Strategy


def test_overrides_replace_only_what_was_given() -> None:
    config = PlannerConfig().with_overrides(
        PlannerOverrides(strategy=Strategy.RANDOM, max_ticks=7, speed_weight=0.0, seed=3)
    )
    assert (config.max_ticks, config.speed_weight, config.seed) == (7, 0.0, 3)
    assert config.distance_weight == 1.0 and config.max_throttle == 300


def test_defaults_lie_within_their_bounds() -> None:
    defaults = PlannerConfig()
    for name, (low, high) in BOUNDS.items():
        assert low <= getattr(defaults, name) <= high, name


def test_given_lists_set_fields_with_plain_values() -> None:
    assert PlannerOverrides(strategy=Strategy.GENETIC, min_throttle=0).given() == {
        "strategy": "genetic",
        "min_throttle": 0,
    }
