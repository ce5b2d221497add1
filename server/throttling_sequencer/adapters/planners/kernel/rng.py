"""A seedable random source for kernels: xoshiro256** over a 4-word state array.

Kernels cannot use numpy's Generator state, so the state travels as a uint64[4] array that
persists between kernel calls: a search cut into slices draws the same numbers as one run.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from throttling_sequencer.adapters.planners.kernel.jit import kernel

State = NDArray[np.uint64]

_U32 = np.uint64(0xFFFFFFFF)


def new_state(seed: int | None) -> State:
    """Fresh state from `seed` (same seed, same draws) or from OS entropy when None."""
    words = np.random.SeedSequence(seed).generate_state(4, np.uint64).astype(np.uint64)
    if not words.any():  # xoshiro's one forbidden state; SeedSequence all but never yields it
        words[0] = 1
    return words


@kernel
def _rotl(x: np.uint64, k: np.uint64) -> np.uint64:
    return (x << k) | (x >> (np.uint64(64) - k))


@kernel
def next_u64(s: State) -> np.uint64:
    result = _rotl(s[1] * np.uint64(5), np.uint64(7)) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], np.uint64(45))
    return result


@kernel
def odds(probability: float) -> np.uint64:
    """The threshold for `happens`: ceil(probability * 2**53)."""
    return np.uint64(np.ceil(max(probability, 0.0) * 9007199254740992.0))


@kernel
def happens(s: State, threshold: np.uint64) -> bool:
    """True with the probability given to `odds`: for a uniform u = k / 2**53 from the top 53
    bits k of a draw, u < probability exactly when k < ceil(probability * 2**53)."""
    return bool((next_u64(s) >> np.uint64(11)) < threshold)


@kernel
def integer(s: State, low: int, high: int) -> int:
    """An integer in [low, high], unbiased (Lemire's multiply-and-reject; span < 2**32)."""
    span = np.uint64(high - low + 1)
    m = (next_u64(s) >> np.uint64(32)) * span
    if (m & _U32) < span:
        floor = (np.uint64(0x100000000) - span) % span
        while (m & _U32) < floor:
            m = (next_u64(s) >> np.uint64(32)) * span
    return low + int(m >> np.uint64(32))
