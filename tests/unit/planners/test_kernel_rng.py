"""The kernels' random source: xoshiro256** as published, seeded, unbiased integers, exact odds."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from throttling_sequencer.adapters.planners.kernel import rng

MASK = (1 << 64) - 1


def reference_next(s: list[int]) -> int:
    """xoshiro256** (Blackman and Vigna), in Python integers."""

    def rotl(x: int, k: int) -> int:
        return ((x << k) | (x >> (64 - k))) & MASK

    result = rotl((s[1] * 5) & MASK, 7) * 9 & MASK
    t = (s[1] << 17) & MASK
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 45)
    return result


def test_draws_follow_the_reference_generator() -> None:
    state = rng.new_state(7)
    words = [int(w) for w in state]
    assert [int(rng.next_u64(state)) for _ in range(200)] == [reference_next(words) for _ in range(200)]


def test_the_same_seed_gives_the_same_state_and_no_seed_a_fresh_one() -> None:
    assert np.array_equal(rng.new_state(3), rng.new_state(3))
    assert not np.array_equal(rng.new_state(3), rng.new_state(4))
    assert not np.array_equal(rng.new_state(None), rng.new_state(None))
    assert rng.new_state(2**64 - 1).dtype == np.uint64


@pytest.mark.parametrize(("low", "high"), [(0, 0), (0, 2), (5, 9), (1, 100)])
def test_integers_cover_their_range_evenly_and_nothing_else(low: int, high: int) -> None:
    state, draws = rng.new_state(1), 50_000
    counts = Counter(rng.integer(state, low, high) for _ in range(draws))
    assert set(counts) == set(range(low, high + 1))
    expected = draws / (high - low + 1)
    assert all(abs(n - expected) < 0.2 * expected for n in counts.values())  # fixed seed: no flake


@pytest.mark.parametrize("probability", [0.0, 0.1, 0.5, 1 / 3, 1.0])
def test_happens_is_exactly_a_uniform_draw_below_the_probability(probability: float) -> None:
    state, shadow = rng.new_state(9), rng.new_state(9)
    threshold = rng.odds(probability)
    for _ in range(5_000):
        uniform = int(rng.next_u64(shadow) >> np.uint64(11)) / 2**53
        assert rng.happens(state, threshold) == (uniform < probability)
