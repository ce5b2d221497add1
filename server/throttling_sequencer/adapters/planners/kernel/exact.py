"""Compiled kernel of the exact planner: relaxation bounds, branch and bound, scoring (numba, nogil).

Notation. r = 1 - f; a plan of length n has ticks k = 1..n, and tick k has j = n - k + 1 ticks
left. With w_k = u_k - min_throttle in 0..span:
    distance  D = A_n + sum_k alpha_j w_k,   alpha_j = (r + ... + r^j) / m
    speed   v_n = B_n + sum_k beta_j w_k,    beta_j = r^j / m
so the same per-j tables serve every length. alpha_j grows with j and beta_j / alpha_j falls: the
earliest free ticks buy distance most cheaply in final speed and in nonzero ticks.

Bound of a node (ticks before some tick fixed, the j_left ticks after it free in 0..span): the
"front-loaded" completion (free ticks filled earliest first) buying distance t has the least
final speed and the fewest nonzero ticks of any completion buying t, and the score is convex in
(distance, speed) and monotone in both of those, so
    min_t  wd |R - t| + ws (c + Vmin(t))^+ + wz jmin(t)
over t in [0, full] is a lower bound of every completion (`_suffix_bound`). Without the count term
it is convex in t; with it, the minimum is at the convex minimiser t* or at a breakpoint below it.

Search: lengths in order of their bound; within a length a depth-first branch and bound over the
ticks in time order, each tick's values swept outwards from the relaxation's value. Every pruned
subtree and every solved leaf records its bound less a floating-point slack (`_adjusted`), so the
minimum recorded is a lower bound of the true optimum once the search is complete.

The kernel runs in slices of bounded work and returns; the Python wrapper polls its stop signal
and reports progress between slices. All state lives in the arrays passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from throttling_sequencer.adapters.planners.kernel.jit import kernel
from throttling_sequencer.adapters.planners.kernel.simulation import problem_array, total_of, weights_array
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem

# --- params (float64 array) -------------------------------------------------------------------
P_DIST, P_V0, P_MASS, P_FRIC, P_WD, P_WS, P_WL, P_WZ, P_THR, P_LOW, P_SPAN, P_NMAX, P_TOL = range(13)
N_PARAMS = 13

# --- per-j tables (rows of a float64 [T_ROWS, N+1] array) ------------------------------------------
T_PW = 0  # r^j
T_SJ = 1  # r + ... + r^j
T_AL = 2  # alpha_j
T_BE = 3  # beta_j
T_CAH = 4  # alpha_1 + ... + alpha_j, double-double (high, low)
T_CAL = 5
T_CBH = 6  # beta_1 + ... + beta_j, double-double
T_CBL = 7
T_RN = 8  # per length n: distance left with w = 0 (d - A_n)
T_CN = 9  # per length n: final speed with w = 0, less the threshold (B_n - thr)
T_AN = 10  # per length n: A_n
T_BN = 11  # per length n: B_n
T_CONST = 12  # per length n: wl n (+ wz n when every tick is nonzero)
T_ROOT = 13  # per length n: root bound (unadjusted)
T_EC = 14  # sum over i <= j of (i - S_i) + 2 i^2 u: how far S_i falls short of i, and its rounding
T_ROWS = 15

# --- state (int64 / float64 arrays) ---------------------------------------------------------------
(
    S_PHASE,
    S_POS,
    S_TOP,
    S_NODES,
    S_INC_LEN,
    S_IMPROVED,
    S_HPOS,
    S_WORK,
    S_JRATIO,
    S_CURN,
    S_TABLE,
    S_HEAVY,
    S_HSTAGE,
    S_LNODES,
) = range(14)
N_STATE_I = 14
F_INC, F_LBPR, F_WZEFF = range(3)
N_STATE_F = 3

PHASE_INIT, PHASE_HEURISTIC, PHASE_SEARCH, PHASE_DONE = 0, 1, 2, 3

# --- DFS frame fields -----------------------------------------------------------------------------
FR_R, FR_C, FR_PIVOT, FR_TOP = range(4)
N_FRAME_F = 4
FI_NZ, FI_DN, FI_UP, FI_DN_ON, FI_UP_ON, FI_ZERO, FI_TURN, FI_W = range(8)
N_FRAME_I = 8

UNIT_ROUNDOFF = 2.0**-53
INF = np.inf


@kernel
def score_plan(params: np.ndarray, throttles: np.ndarray, n: int) -> float:
    """The score of the first n throttles: simulation.total_of (domain.physics.score, bit for bit).

    params starts with the simulation's PROBLEM (P_DIST..P_FRIC) and WEIGHTS (P_WD..P_THR) arrays.
    """
    return total_of(params[P_DIST : P_FRIC + 1], params[P_WD : P_THR + 1], throttles.reshape((1, -1)), 0, n)


@kernel
def _two_sum(a: float, b: float) -> tuple[float, float]:
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@kernel
def build_tables(params: np.ndarray, tables: np.ndarray) -> None:
    """Fill the per-j and per-length tables (tables has T_ROWS rows and N + 1 columns)."""
    n_max = int(params[P_NMAX])
    mass = params[P_MASS]
    r = 1.0 - params[P_FRIC]
    low = params[P_LOW]
    v0 = params[P_V0]
    pw = tables[T_PW]
    sj = tables[T_SJ]
    al = tables[T_AL]
    be = tables[T_BE]
    pw[0] = 1.0
    sj[0] = 0.0
    al[0] = 0.0
    be[0] = 0.0
    for row in (T_CAH, T_CAL, T_CBH, T_CBL, T_RN, T_CN, T_AN, T_BN, T_CONST, T_ROOT, T_EC):
        tables[row, 0] = 0.0
    for j in range(1, n_max + 1):
        pw[j] = pw[j - 1] * r
        sj[j] = sj[j - 1] + pw[j]
        al[j] = sj[j] / mass
        be[j] = pw[j] / mass
        hi, lo = _two_sum(tables[T_CAH, j - 1], al[j])
        tables[T_CAH, j] = hi
        tables[T_CAL, j] = tables[T_CAL, j - 1] + lo
        hi, lo = _two_sum(tables[T_CBH, j - 1], be[j])
        tables[T_CBH, j] = hi
        tables[T_CBL, j] = tables[T_CBL, j - 1] + lo
        tables[T_EC, j] = tables[T_EC, j - 1] + (j - sj[j]) + 2.0 * j * j * UNIT_ROUNDOFF
    wz_all = params[P_WZ] if params[P_LOW] > 0 else 0.0
    for n in range(1, n_max + 1):
        ca = tables[T_CAH, n] + tables[T_CAL, n]
        cb = tables[T_CBH, n] + tables[T_CBL, n]
        a_n = v0 * sj[n] + low * ca
        b_n = v0 * pw[n] + low * cb
        tables[T_AN, n] = a_n
        tables[T_BN, n] = b_n
        tables[T_RN, n] = params[P_DIST] - a_n
        tables[T_CN, n] = b_n - params[P_THR]
        tables[T_CONST, n] = params[P_WL] * n + wz_all * n


@kernel
def _gamma(n: int) -> float:
    """A generous multiple of the unit roundoff for every quantity a length-n plan computes."""
    k = 16.0 * n + 64.0
    return k * UNIT_ROUNDOFF / (1.0 - k * UNIT_ROUNDOFF)


@kernel
def adjusted(params: np.ndarray, tables: np.ndarray, n: int, value: float) -> float:
    """A computed bound or score of length n, less twice what rounding can have moved it.

    Every distance and speed the kernel and domain.physics compute is a sum of at most ~3n
    nonnegative terms (with a few subtractions of relevant magnitudes), so its error is at most
    gamma times the magnitudes: the target and the coasting distance, the threshold and the
    coasting speed, and, for plans that matter, the value itself (a plan far past the target is
    charged at least wd times its excess).
    """
    magnitude = (
        2.0 * params[P_WD] * (abs(params[P_DIST]) + tables[T_AN, n])
        + 2.0 * params[P_WS] * (params[P_THR] + tables[T_BN, n])
        + 4.0 * abs(value)
        + 2.0 * (params[P_WL] + params[P_WZ]) * n
    )
    return value - 2.0 * _gamma(n) * magnitude


@kernel
def _bp_dist(tables: np.ndarray, span: float, jl: int, i: int) -> float:
    """Distance bought by filling the first i of jl free ticks (j = jl .. jl - i + 1)."""
    q = jl - i
    return span * ((tables[T_CAH, jl] - tables[T_CAH, q]) + (tables[T_CAL, jl] - tables[T_CAL, q]))


@kernel
def _bp_speed(tables: np.ndarray, span: float, jl: int, i: int) -> float:
    q = jl - i
    return span * ((tables[T_CBH, jl] - tables[T_CBH, q]) + (tables[T_CBL, jl] - tables[T_CBL, q]))


@kernel
def _segment_of(tables: np.ndarray, span: float, jl: int, t: float) -> int:
    """The fewest free ticks whose front-loaded filling buys t: smallest i with P(i) >= t."""
    if t <= 0.0:
        return 0
    lo, hi = 1, jl
    while lo < hi:
        mid = (lo + hi) // 2
        if _bp_dist(tables, span, jl, mid) >= t:
            hi = mid
        else:
            lo = mid + 1
    return lo


@kernel
def _speed_at(tables: np.ndarray, span: float, jl: int, i: int, t: float) -> float:
    """Least final speed added when t (inside segment i) is bought front-loaded."""
    p0 = _bp_dist(tables, span, jl, i - 1)
    p1 = _bp_dist(tables, span, jl, i)
    v0 = _bp_speed(tables, span, jl, i - 1)
    v1 = _bp_speed(tables, span, jl, i)
    if p1 <= p0:
        return v1
    frac = (t - p0) / (p1 - p0)
    if frac < 0.0:
        frac = 0.0
    elif frac > 1.0:
        frac = 1.0
    return v0 + frac * (v1 - v0)


@kernel
def _fiber(params: np.ndarray, tables: np.ndarray, jl: int, far: float, over: float, total: float) -> float:
    """Least relaxed cost of jl free ticks whose throttles sum to `total` (a whole number).

    Every such completion has distance and final speed on the segment from the front-loaded
    (most distance, least speed) to the back-loaded (least distance, most speed) completion:
    D = alpha_inf W - kappa V for f > 0, and V = W / m for f = 0. The cost is convex along it,
    so its minimum is at an end, where the distance is hit, or where the speed reaches the threshold.
    """
    wd = params[P_WD]
    ws = params[P_WS]
    span = params[P_SPAN]
    i = int(total // span)
    rem = total - i * span
    if i >= jl:
        i = jl
        rem = 0.0
    d_max = _bp_dist(tables, span, jl, i)
    v_min = _bp_speed(tables, span, jl, i)
    d_min = span * (tables[T_CAH, i] + tables[T_CAL, i])
    v_max = span * (tables[T_CBH, i] + tables[T_CBL, i])
    if rem > 0.0:
        d_max += rem * tables[T_AL, jl - i]
        v_min += rem * tables[T_BE, jl - i]
        d_min += rem * tables[T_AL, i + 1]
        v_max += rem * tables[T_BE, i + 1]
    if d_min > d_max:
        d_min = d_max
    if v_max < v_min:
        v_max = v_min
    best = wd * abs(far - d_max) + ws * max(0.0, over + v_min)
    value = wd * abs(far - d_min) + ws * max(0.0, over + v_max)
    if value < best:
        best = value
    if d_min < far < d_max:
        lam = (d_max - far) / (d_max - d_min)
        value = ws * max(0.0, over + v_min + lam * (v_max - v_min))
        if value < best:
            best = value
    if v_min < -over < v_max:
        lam = (-over - v_min) / (v_max - v_min)
        value = wd * abs(far - (d_max + lam * (d_min - d_max)))
        if value < best:
            best = value
    return best


@kernel
def suffix_bound(
    params: np.ndarray,
    tables: np.ndarray,
    j_ratio: int,
    wz: float,
    jl: int,
    far: float,
    over: float,
    cutoff: float,
    single_v: np.ndarray,
    single_k: np.ndarray,
) -> tuple[float, float, float, float, float, int]:
    """Relaxation of jl free ticks: (bound, sweep bound, distance of the best total, t*, and the
    best completion with one nonzero tick if it was enumerated: its cost and tick/value key).

    `far` is the distance still to cover, `over` the final speed already committed less the
    threshold; the fixed part of the score is the caller's. `j_ratio` is the largest j whose
    speed-per-distance ratio, weighted, outweighs the distance weight (0 if none): filling ticks
    j <= j_ratio above the threshold costs more than the distance it buys. Completions with one
    nonzero tick are enumerated exactly when their relaxation is below `cutoff`.

    The sweep bound is the continuous front-loaded relaxation with counts, min_t G(t) + wz jmin(t):
    the minimum over classes "at most k more nonzero ticks" (t <= P_k) of convex functions of the
    fixed part, whose minimisers in the value of the tick before lie at or above the value the
    relaxation gives it, so callers may stop sweeping once it is too high (see `run`). The bound
    itself keeps the suffix's total throttle W whole and charges ceil(W / span) nonzero ticks:
    its cost over W is convex, minimised next to the continuous optimum W*, and below W* the
    cheapest total with c nonzero ticks is c * span.
    """
    wd = params[P_WD]
    ws = params[P_WS]
    span = params[P_SPAN]
    if jl == 0 or span == 0.0:
        g = wd * abs(far) + ws * max(0.0, over)
        return g, g, 0.0, 0.0, INF, 0
    if far <= 0.0:
        g = wd * (-far) + ws * max(0.0, over)
        return g, g, 0.0, 0.0, INF, 0
    total = _bp_dist(tables, span, jl, jl)
    t_star = min(far, total)
    t_threshold = INF
    if over >= 0.0:
        t_threshold = 0.0
    elif over + _bp_speed(tables, span, jl, jl) > 0.0:
        lo, hi = 1, jl
        while lo < hi:
            mid = (lo + hi) // 2
            if over + _bp_speed(tables, span, jl, mid) > 0.0:
                hi = mid
            else:
                lo = mid + 1
        p0 = _bp_dist(tables, span, jl, lo - 1)
        p1 = _bp_dist(tables, span, jl, lo)
        v0 = _bp_speed(tables, span, jl, lo - 1)
        v1 = _bp_speed(tables, span, jl, lo)
        t_threshold = p0 + (p1 - p0) * ((-over - v0) / (v1 - v0))
    # Slope of the relaxation below the target: -wd, plus ws * ratio once above the threshold.
    first_costly = jl - j_ratio + 1 if j_ratio > 0 else jl + 1
    if first_costly < 1:
        first_costly = 1
    if first_costly <= jl and t_threshold < INF:
        t_switch = max(t_threshold, _bp_dist(tables, span, jl, first_costly - 1))
        t_star = min(t_star, t_switch)
    seg = _segment_of(tables, span, jl, t_star)
    if t_star == t_threshold:
        g_star = wd * abs(far - t_star)
    elif seg == 0:
        g_star = wd * far + ws * max(0.0, over)
    else:
        g_star = wd * abs(far - t_star) + ws * max(0.0, over + _speed_at(tables, span, jl, seg, t_star))
    sweep = g_star + wz * seg
    if wz > 0.0:
        previous = g_star
        i = seg - 1
        while i >= 0:
            g = wd * abs(far - _bp_dist(tables, span, jl, i)) + ws * max(
                0.0, over + _bp_speed(tables, span, jl, i)
            )
            value = g + wz * i
            if value < sweep:
                sweep = value
            if g - previous >= wz:
                break
            previous = g
            i -= 1
    # The continuous optimum's total throttle, front-loaded.
    if seg == 0:
        w_star = 0.0
    else:
        p0 = _bp_dist(tables, span, jl, seg - 1)
        w_star = (seg - 1) * span + min(span, max(0.0, (t_star - p0) / tables[T_AL, jl - seg + 1]))
    w_cap = span * jl
    low_w = min(np.floor(w_star), w_cap)
    high_w = min(low_w + 1.0, w_cap)
    # Completions by their number of nonzero ticks: none, one, two or more.
    single_value = INF
    single_key = 0
    best = _fiber(params, tables, jl, far, over, 0.0)
    best_w = 0.0
    single = INF
    single_w = 0.0
    for w in (low_w, high_w, 1.0):
        w = min(w, span)
        if w >= 1.0:
            value = _fiber(params, tables, jl, far, over, w) + wz
            if value < single:
                single = value
                single_w = w
    if jl >= 2 and w_cap >= 2.0:
        previous = INF
        for w in (high_w, low_w):
            w = max(w, 2.0)
            f = _fiber(params, tables, jl, far, over, w)
            value = f + wz * max(2.0, np.ceil(w / span))
            if value < best:
                best = value
                best_w = w
            previous = f
        c = np.ceil(max(low_w, 2.0) / span) - 1.0
        while c >= 2.0 and wz > 0.0:
            f = _fiber(params, tables, jl, far, over, c * span)
            value = f + wz * c
            if value < best:
                best = value
                best_w = c * span
            if f - previous >= wz:
                break
            previous = f
            c -= 1.0
    if single < best and single < cutoff:
        # One more nonzero tick: its position is a choice, not a continuum; enumerate it.
        exact, single_key = _single(params, tables, jl, far, over, single_v, single_k)
        single = exact + wz
        single_value = single
    if single < best:
        best = single
        best_w = single_w
    # Front-loaded distance of the best total, for ordering and rounding.
    i = int(best_w // span)
    t_best = _bp_dist(tables, span, jl, min(i, jl))
    if i < jl:
        t_best += (best_w - i * span) * tables[T_AL, jl - i]
    t_best = min(t_best, t_star) if best_w <= w_star else t_best
    return max(best, sweep), sweep, t_best, t_star, single_value, single_key


@kernel
def lattice_excess(params: np.ndarray, tables: np.ndarray, jl: int) -> float:
    """How far below a whole multiple of 1/m (in units of 1/m) jl free ticks' distance can fall.

    The ticks buy sum_j S_j w_j / m with S_j = r + ... + r^j <= j, that is (K - E) / m with K =
    sum_j j w_j a whole number and 0 <= E = sum_j (j - S_j) w_j <= span sum_j (j - S_j) (T_EC also
    covers the rounding of S_j). Zero without friction; below 1 only for frictions under ~1e-5.
    """
    return params[P_SPAN] * tables[T_EC, jl] * (1.0 + 1e-9)


@kernel
def lattice_bound(
    params: np.ndarray,
    tables: np.ndarray,
    j_ratio: int,
    wz: float,
    jl: int,
    far: float,
    over: float,
    cutoff: float,
    single_v: np.ndarray,
    single_k: np.ndarray,
) -> float:
    """A stronger bound of jl free ticks with (next to) no friction; -inf where it does not apply.

    The ticks buy (K - E) / m with K whole and 0 <= E <= `lattice_excess` < 1, so with
    x = far m and k the least whole number >= x, a completion buys at most far_lo = (k - 1) / m or
    at least far_hi = (k - E_max) / m whenever x falls between. One buying D <= far_lo costs
    wd (far - far_lo) plus what it costs against the target far_lo, so at least that plus the
    relaxation of far_lo; likewise above. With tiny masses 1/m is large and the relaxation, which
    can hit far exactly, is weak: this is the integrality it misses. The result moves with far by
    at most wd per unit (the relaxation is wd-Lipschitz), so rounding in far costs what it costs
    the relaxation, which `adjusted` charges.
    """
    wd = params[P_WD]
    if jl == 0 or params[P_SPAN] == 0.0 or wd <= 0.0 or far <= 0.0:
        return -INF
    excess = lattice_excess(params, tables, jl)
    if excess >= 1.0:
        return -INF
    m = params[P_MASS]
    x = far * m
    if not x < 2.0**52:
        return -INF
    k = np.ceil(x)
    if k - excess <= x:
        return -INF
    far_lo = (k - 1.0) / m
    far_hi = (k - excess) / m
    below = wd * (far - far_lo)
    above = wd * (far_hi - far)
    lo, _, _, _, _, _ = suffix_bound(
        params, tables, j_ratio, wz, jl, far_lo, over, cutoff - below, single_v, single_k
    )
    hi, _, _, _, _, _ = suffix_bound(
        params, tables, j_ratio, wz, jl, far_hi, over, cutoff - above, single_v, single_k
    )
    return min(lo + below, hi + above)


#: Single-tick distances are tabulated (sorted) when there are at most this many of them.
SINGLE_TABLE_MAX = 1 << 16
#: Free ticks from which a table lookup beats the plain loop, and entries a lookup may scan.
SINGLE_TABLE_MIN_TICKS = 16
SINGLE_TABLE_SCAN = 48
#: Searches that get this far build the table (about a millisecond); shorter ones loop.
TABLE_AFTER_NODES = 500
#: Nodes searched before the heavy heuristic pass, and lengths each heuristic pass visits.
HEAVY_AFTER_NODES = 300
HEURISTIC_LENGTHS = 6
#: Root bounds enumerate one-tick plans exactly up to this length (a loop over the ticks).
ROOT_SINGLE_TICKS = 128


@kernel
def build_single_table(
    params: np.ndarray, tables: np.ndarray, single_v: np.ndarray, single_k: np.ndarray
) -> None:
    """Every alpha_j * x (j = 1..N, x = 1..span) sorted, with j * (span + 1) + x alongside.

    A bucket sort (one bucket per entry on average, insertion sort inside): linear time.
    """
    n_max = int(params[P_NMAX])
    span = int(params[P_SPAN])
    size = n_max * span
    top = tables[T_AL, n_max] * span
    buckets = size
    scale = buckets / top if top > 0.0 else 0.0
    counts = np.zeros(buckets + 1, dtype=np.int64)
    for j in range(1, n_max + 1):
        a = tables[T_AL, j]
        for x in range(1, span + 1):
            b = min(int(a * x * scale), buckets - 1)
            counts[b + 1] += 1
    for b in range(buckets):
        counts[b + 1] += counts[b]
    fill = counts[:buckets].copy()
    for j in range(1, n_max + 1):
        a = tables[T_AL, j]
        for x in range(1, span + 1):
            v = a * x
            b = min(int(v * scale), buckets - 1)
            at = fill[b]
            fill[b] = at + 1
            # Insertion into the bucket's sorted run.
            key = j * (span + 1) + x
            while at > counts[b] and single_v[at - 1] > v:
                single_v[at] = single_v[at - 1]
                single_k[at] = single_k[at - 1]
                at -= 1
            single_v[at] = v
            single_k[at] = key


@kernel
def _single(
    params: np.ndarray,
    tables: np.ndarray,
    jl: int,
    far: float,
    over: float,
    single_v: np.ndarray,
    single_k: np.ndarray,
) -> tuple[float, int]:
    """Least cost of completing with exactly one nonzero tick among the jl free ones (exact),
    and its tick and value as j * (span + 1) + x.

    With the sorted table, candidates are visited in order of their distance error and the scan
    ends once that error alone costs more than the best; otherwise (or if the scan runs long)
    every free tick is tried at the integers next to its kinks.
    """
    wd = params[P_WD]
    ws = params[P_WS]
    span = params[P_SPAN]
    best = INF
    best_key = 0
    stride = int(span) + 1
    size = single_v.shape[0]
    if size > 0 and jl >= SINGLE_TABLE_MIN_TICKS and wd > 0.0:
        hi = np.searchsorted(single_v, far)
        lo = hi - 1
        for _ in range(SINGLE_TABLE_SCAN):
            if hi < size and (lo < 0 or single_v[hi] - far <= far - single_v[lo]):
                k = hi
                hi += 1
            elif lo >= 0:
                k = lo
                lo -= 1
            else:
                return best, best_key
            if wd * abs(far - single_v[k]) >= best:
                return best, best_key
            j = single_k[k] // stride
            if j > jl:
                continue
            x = float(single_k[k] - j * stride)
            value = wd * abs(far - tables[T_AL, j] * x) + ws * max(0.0, over + tables[T_BE, j] * x)
            if value < best:
                best = value
                best_key = j * stride + int(x)
    for j in range(1, jl + 1):
        a = tables[T_AL, j]
        b = tables[T_BE, j]
        x = np.floor(far / a)
        y = np.floor(-over / b) if b > 0.0 else 1.0
        for w in (1.0, span, x, x + 1.0, y, y + 1.0):
            w = min(max(w, 1.0), span)
            value = wd * abs(far - a * w) + ws * max(0.0, over + b * w)
            if value < best:
                best = value
                best_key = j * stride + int(w)
    return best, best_key


@kernel
def ratio_index(params: np.ndarray, tables: np.ndarray) -> int:
    """Largest j with ws * beta_j / alpha_j >= wd (the ratio falls with j); 0 if none."""
    n_max = int(params[P_NMAX])
    wd = params[P_WD]
    ws = params[P_WS]
    best = 0
    for j in range(1, n_max + 1):
        if ws * tables[T_PW, j] >= wd * tables[T_SJ, j]:
            best = j
        else:
            break
    return best


@kernel
def _theta(params: np.ndarray, incumbent: float) -> float:
    """Subtrees whose adjusted bound reaches this cannot hold a plan better by the tolerance."""
    if incumbent == INF:
        return INF
    return incumbent - params[P_TOL] * max(1.0, abs(incumbent))


@kernel
def _record(state_f: np.ndarray, adjusted_bound: float) -> None:
    if adjusted_bound < state_f[F_LBPR]:
        state_f[F_LBPR] = adjusted_bound


@kernel
def _offer(
    params: np.ndarray,
    plan: np.ndarray,
    n: int,
    incumbent: np.ndarray,
    state_i: np.ndarray,
    state_f: np.ndarray,
) -> float:
    """Score plan[:n] (throttles) exactly; keep it if it beats the incumbent. Returns the score."""
    value = score_plan(params, plan, n)
    if value < state_f[F_INC]:
        state_f[F_INC] = value
        incumbent[:n] = plan[:n]
        state_i[S_INC_LEN] = n
        state_i[S_IMPROVED] = 1
    return value


@kernel
def _leaf(
    params: np.ndarray,
    tables: np.ndarray,
    n: int,
    far: float,
    over: float,
    nz: int,
    frames_i: np.ndarray,
    scratch: np.ndarray,
    incumbent: np.ndarray,
    state_i: np.ndarray,
    state_f: np.ndarray,
) -> None:
    """The last tick (j = 1) of a plan whose first n - 1 ticks are frames_i[:, FI_W]: solved exactly.

    Its score is convex piecewise linear in w >= 1 with kinks where the distance is hit and where
    the final speed reaches the threshold, plus the nonzero term at w = 0: the integer minimum is
    at 0, 1, span, or next to a kink.
    """
    span = params[P_SPAN]
    low = params[P_LOW]
    wd = params[P_WD]
    ws = params[P_WS]
    wz = state_f[F_WZEFF]
    const = tables[T_CONST, n]
    a1 = tables[T_AL, 1]
    b1 = tables[T_BE, 1]
    cands = np.empty(8)
    cands[0] = 0.0
    cands[1] = 1.0
    cands[2] = span
    x = np.floor(far / a1) if a1 > 0.0 else 0.0
    cands[3] = x
    cands[4] = x + 1.0
    y = np.floor(-over / b1) if b1 > 0.0 else 0.0
    cands[5] = y
    cands[6] = y + 1.0
    cands[7] = span
    best = INF
    best_w = 0.0
    for c in range(8):
        w = min(max(cands[c], 0.0), span)
        value = wd * abs(far - a1 * w) + ws * max(0.0, over + b1 * w) + const
        value += wz * (nz + (1 if w > 0.0 else 0))
        if value < best:
            best = value
            best_w = w
    _record(state_f, adjusted(params, tables, n, best))
    state_i[S_WORK] += 12
    if best < state_f[F_INC]:
        for k in range(n - 1):
            scratch[k] = frames_i[k, FI_W] + low
        scratch[n - 1] = best_w + low
        _offer(params, scratch, n, incumbent, state_i, state_f)
        state_i[S_WORK] += n


#: Heuristic sizes: deficit levels per block tick, block ticks per hole search, plans scored.
QUICK_LEVELS = 12
DEFICIT_LEVELS = 60
POLISH_LEVELS = 30
POLISH_WIDE_LEVELS = 10
HOLE_DEFICIT_LEVELS = 30
POLISH_ROUNDS = 8
HOLE_TICKS = 6
RELOCATION_TICKS = 40
RELOCATION_ENTRIES = 16384
TOP_CANDIDATES = 12
GAPS = 3
#: Below the threshold, entries scanned on each side of a residue for one within the speed slack.
SCAN_NEIGHBOURS = 6
#: The most work units one indivisible step accounts: the largest meet in the middle (relocations
#: against holes) with its exact scoring, plus the offers around it, for 1000 ticks.
MAX_STEP_WORK = 24 * (RELOCATION_ENTRIES + 1 + (HOLE_TICKS + 1) * (HOLE_DEFICIT_LEVELS + 1) ** 2) + 32 * 1000
#: Edits per heuristic entry (tick, delta pairs).
EDITS = 3


@kernel
def _offer_w(
    params: np.ndarray,
    w: np.ndarray,
    n: int,
    scratch: np.ndarray,
    incumbent: np.ndarray,
    state_i: np.ndarray,
    state_f: np.ndarray,
) -> float:
    low = params[P_LOW]
    for k in range(n):
        scratch[k] = w[k] + low
    state_i[S_WORK] += n
    return _offer(params, scratch, n, incumbent, state_i, state_f)


@kernel
def _deficit_entries(
    base: np.ndarray, movers: np.ndarray, levels: int, span: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every combination of changes -levels..levels (within 0..span) on the mover ticks."""
    count = movers.shape[0]
    size = 1
    for m in range(count):
        w = int(base[movers[m]])
        size *= min(levels, w) + min(levels, span - w) + 1
    ticks = np.full((size, EDITS), -1, dtype=np.int64)
    deltas = np.zeros((size, EDITS), dtype=np.int64)
    radix = 1
    for m in range(count):
        w = int(base[movers[m]])
        down = min(levels, w)
        top = down + min(levels, span - w) + 1
        for index in range(size):
            ticks[index, m] = movers[m]
            deltas[index, m] = (index // radix) % top - down
        radix *= top
    return ticks, deltas


@kernel
def _hole_entries(base: np.ndarray, p: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """No hole, or one block tick emptied, each with deficits on the two nearest other block ticks."""
    holes = min(HOLE_TICKS, p)
    width = levels + 1
    size = (holes + 1) * width * width
    ticks = np.full((size, EDITS), -1, dtype=np.int64)
    deltas = np.zeros((size, EDITS), dtype=np.int64)
    at = 0
    for h in range(-1, holes):
        hole = p - 1 - h if h >= 0 else -1
        others = np.full(2, -1, dtype=np.int64)
        found = 0
        k = p - 1
        while k >= 0 and found < 2:
            if k != hole and base[k] > 0:
                others[found] = k
                found += 1
            k -= 1
        for index in range(width * width):
            if hole >= 0:
                ticks[at, 0] = hole
                deltas[at, 0] = -base[hole]
            for m in range(2):
                if others[m] >= 0:
                    d = (index // (width if m else 1)) % width
                    ticks[at, 1 + m] = others[m]
                    deltas[at, 1 + m] = -min(d, int(base[others[m]]))
            at += 1
    return ticks, deltas


@kernel
def _relocation_entries(base: np.ndarray, n: int, p: int, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Nothing, or one empty tick after p set to any value."""
    last = min(n, p + 1 + max(1, min(RELOCATION_TICKS, RELOCATION_ENTRIES // span)))
    values = min(span, RELOCATION_ENTRIES)
    size = 1 + max(0, last - p - 1) * values
    ticks = np.full((size, EDITS), -1, dtype=np.int64)
    deltas = np.zeros((size, EDITS), dtype=np.int64)
    at = 1
    for q in range(p + 1, last):
        if base[q] != 0:
            continue
        for x in range(1, values + 1):
            ticks[at, 0] = q
            deltas[at, 0] = x
            at += 1
    return ticks[:at], deltas[:at]


@kernel
def _price(
    params: np.ndarray,
    tables: np.ndarray,
    n: int,
    base: np.ndarray,
    ticks: np.ndarray,
    deltas: np.ndarray,
    rho: float,
    ws_eff: float,
    wz: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance shift, linearised cost and final-speed rise (tick p compensating) of each entry."""
    size = ticks.shape[0]
    shift = np.zeros(size)
    cost = np.zeros(size)
    rise = np.zeros(size)
    low = params[P_LOW]
    for index in range(size):
        count = 0
        for e in range(EDITS):
            k = ticks[index, e]
            if k < 0:
                continue
            d = deltas[index, e]
            j = n - k
            shift[index] += tables[T_AL, j] * d
            rise[index] += (tables[T_BE, j] - rho * tables[T_AL, j]) * d
            was = base[k] + low != 0
            now = base[k] + d + low != 0
            count += (1 if now else 0) - (1 if was else 0)
        cost[index] = ws_eff * rise[index] + wz * count
    return shift, cost, rise


@kernel
def _mitm(
    params: np.ndarray,
    tables: np.ndarray,
    n: int,
    base: np.ndarray,
    p: int,
    a_ticks: np.ndarray,
    a_deltas: np.ndarray,
    b_ticks: np.ndarray,
    b_deltas: np.ndarray,
    work_w: np.ndarray,
    scratch: np.ndarray,
    incumbent: np.ndarray,
    state_i: np.ndarray,
    state_f: np.ndarray,
) -> None:
    """Meet in the middle over two groups of edits to `base`; tick p absorbs whole units.

    Each pair of entries is priced by the distance residue it leaves (circularly, in units of
    tick p's distance: p takes the whole units) plus the entries' linearised speed and nonzero
    costs; for each entry of A the best partner in B comes from the lower envelope of V shapes,
    and the cheapest pairs are scored exactly.
    """
    span = int(params[P_SPAN])
    wd = params[P_WD]
    ws = params[P_WS]
    wz = state_f[F_WZEFF]
    far = tables[T_RN, n]
    over = tables[T_CN, n]
    for k in range(n):
        j = n - k
        far -= tables[T_AL, j] * base[k]
        over += tables[T_BE, j] * base[k]
    jp = n - p
    ap = tables[T_AL, jp]
    bp = tables[T_BE, jp]
    rho = bp / ap
    excess = over + rho * far
    ws_eff = ws if excess > 0.0 else 0.0
    slack = -excess if excess < 0.0 else 0.0
    sa, ca, ra = _price(params, tables, n, base, a_ticks, a_deltas, rho, ws_eff, wz)
    sb, cb, rb = _price(params, tables, n, base, b_ticks, b_deltas, rho, ws_eff, wz)
    capped = ws_eff == 0.0
    if capped:
        # Below the threshold speed is free up to the slack: drop entries that break it together
        # with the other group's gentlest entry, and check pairs exactly when matching.
        least_a = ra.min() if ra.shape[0] > 0 else 0.0
        least_b = rb.min() if rb.shape[0] > 0 else 0.0
        for i in range(ca.shape[0]):
            if ra[i] + least_b > slack:
                ca[i] = INF
        for i in range(cb.shape[0]):
            if rb[i] + least_a > slack:
                cb[i] = INF
    nb = sb.shape[0]
    weight = wd * ap
    xb = np.empty(nb)
    for i in range(nb):
        x = sb[i] / ap
        xb[i] = x - np.floor(x)
    order = np.argsort(xb)
    size = 3 * nb
    xs = np.empty(size)
    cs = np.empty(size)
    ids = np.empty(size, dtype=np.int64)
    for copy in range(3):
        for i in range(nb):
            o = order[i]
            xs[copy * nb + i] = xb[o] + (copy - 1)
            cs[copy * nb + i] = cb[o]
            ids[copy * nb + i] = o
    left = np.empty(size)
    left_arg = np.empty(size, dtype=np.int64)
    right = np.empty(size)
    right_arg = np.empty(size, dtype=np.int64)
    running = INF
    arg = 0
    for i in range(size):
        v = cs[i] - weight * xs[i]
        if v < running:
            running = v
            arg = i
        left[i] = running
        left_arg[i] = arg
    running = INF
    arg = size - 1
    for i in range(size - 1, -1, -1):
        v = cs[i] + weight * xs[i]
        if v < running:
            running = v
            arg = i
        right[i] = running
        right_arg[i] = arg
    top_cost = np.full(TOP_CANDIDATES, INF)
    top_a = np.zeros(TOP_CANDIDATES, dtype=np.int64)
    top_b = np.zeros(TOP_CANDIDATES, dtype=np.int64)
    na = sa.shape[0]
    for a in range(na):
        if ca[a] == INF:
            continue
        x = (far - sa[a]) / ap
        y = x - np.floor(x)
        at = np.searchsorted(xs, y)
        total = INF
        partner = 0
        if capped:
            # Nearest residues on each side whose speed, with this entry's, stays within the slack.
            for side in range(2):
                i = at - 1 if side == 0 else at
                for _ in range(SCAN_NEIGHBOURS):
                    if i < 0 or i >= size:
                        break
                    o = ids[i]
                    q = base[p] + np.round((far - sa[a] - sb[o]) / ap)
                    if cs[i] < INF and ra[a] + rb[o] <= slack and 0.0 <= q <= span:
                        v = weight * abs(y - xs[i]) + cs[i]
                        if v < total:
                            total = v
                            partner = o
                        break
                    i = i - 1 if side == 0 else i + 1
        else:
            if at > 0:
                v = weight * y + left[at - 1]
                if v < total:
                    total = v
                    partner = ids[left_arg[at - 1]]
            if at < size:
                v = -weight * y + right[at]
                if v < total:
                    total = v
                    partner = ids[right_arg[at]]
        total += ca[a]
        if total < INF:
            q = base[p] + np.round((far - sa[a] - sb[partner]) / ap)
            if q < 0.0 or q > span:
                continue
        if total < top_cost[TOP_CANDIDATES - 1]:
            slot = TOP_CANDIDATES - 1
            while slot > 0 and top_cost[slot - 1] > total:
                top_cost[slot] = top_cost[slot - 1]
                top_a[slot] = top_a[slot - 1]
                top_b[slot] = top_b[slot - 1]
                slot -= 1
            top_cost[slot] = total
            top_a[slot] = a
            top_b[slot] = partner
    state_i[S_WORK] += 24 * (na + nb)
    for c in range(TOP_CANDIDATES):
        if top_cost[c] == INF:
            break
        work_w[:n] = base[:n]
        for e in range(EDITS):
            if a_ticks[top_a[c], e] >= 0:
                work_w[a_ticks[top_a[c], e]] += a_deltas[top_a[c], e]
            if b_ticks[top_b[c], e] >= 0:
                work_w[b_ticks[top_b[c], e]] += b_deltas[top_b[c], e]
        rest = tables[T_RN, n]
        for k in range(n):
            rest -= tables[T_AL, n - k] * work_w[k]
        value = work_w[p] + np.round(rest / ap)
        work_w[p] = int(min(max(value, 0.0), float(span)))
        ok = True
        for k in range(n):
            if work_w[k] < 0 or work_w[k] > span:
                ok = False
        if ok:
            _offer_w(params, work_w, n, scratch, incumbent, state_i, state_f)


@kernel
def _front_base(
    params: np.ndarray, tables: np.ndarray, n: int, t: float, base: np.ndarray
) -> tuple[int, float]:
    """Fill base[:n] with the front-loaded plan buying t, its partial tick rounded down.

    Returns the partial tick (-1 if there is none: nothing bought, or every tick full) and the
    partial tick's relaxed value.
    """
    span = params[P_SPAN]
    base[:n] = 0
    seg = _segment_of(tables, span, n, t)
    if seg == 0:
        return -1, 0.0
    full = seg if _bp_dist(tables, span, n, seg) <= t else seg - 1
    base[:full] = int(span)
    if full >= n:
        return -1, 0.0
    x = (t - _bp_dist(tables, span, n, full)) / tables[T_AL, n - full]
    base[full] = int(min(max(np.floor(x), 0.0), span))
    return full, x


@kernel
def _targets(
    params: np.ndarray, tables: np.ndarray, n: int, state_i: np.ndarray, state_f: np.ndarray
) -> tuple[float, float]:
    """The distance the relaxation of length n buys, with and without its count term."""
    none = np.empty(0)
    _, _, t_best, t_star, _, _ = suffix_bound(
        params,
        tables,
        state_i[S_JRATIO],
        state_f[F_WZEFF],
        n,
        tables[T_RN, n],
        tables[T_CN, n],
        -INF,
        none,
        none.astype(np.int64),
    )
    return t_best, t_star


@kernel
def _quick(
    params: np.ndarray,
    tables: np.ndarray,
    n: int,
    work_w: np.ndarray,
    base: np.ndarray,
    scratch: np.ndarray,
    incumbent: np.ndarray,
    state_i: np.ndarray,
    state_f: np.ndarray,
) -> None:
    """Round the relaxation of length n front-loaded (the partial tick a few ticks later too),
    and tune the rounding with small deficits."""
    span = params[P_SPAN]
    t_best, t_star = _targets(params, tables, n, state_i, state_f)
    for which in range(2):
        t = t_best if which == 0 else t_star
        if which == 1 and t_star == t_best:
            break
        full, _ = _front_base(params, tables, n, t, base)
        _offer_w(params, base, n, scratch, incumbent, state_i, state_f)
        if full < 0:
            continue
        bought = _bp_dist(tables, span, n, full)
        for gap in range(GAPS + 1):
            at = full + gap
            if at >= n:
                break
            y = (t - bought) / tables[T_AL, n - at]
            if gap > 0 and y > span:
                break
            for up in range(2):
                base[full:n] = 0
                base[at] = int(min(max(np.floor(y) + up, 0.0), span))
                _offer_w(params, base, n, scratch, incumbent, state_i, state_f)
        full, _ = _front_base(params, tables, n, t, base)
        if full >= 0:
            _deficit_round(
                params,
                tables,
                n,
                base,
                full,
                4,
                QUICK_LEVELS,
                0,
                work_w,
                scratch,
                incumbent,
                state_i,
                state_f,
            )


@kernel
def _heavy(
    params: np.ndarray,
    tables: np.ndarray,
    n: int,
    stage: int,
    work_w: np.ndarray,
    base: np.ndarray,
    scratch: np.ndarray,
    incumbent: np.ndarray,
    state_i: np.ndarray,
    state_f: np.ndarray,
) -> bool:
    """One stage of the thorough tuning of length n; True once the length is done.

    Stage 0: large deficits on the front-loaded rounding. Stage 1: a block tick emptied and its
    throttle moved after the partial tick (the nonzero count unchanged), which reaches distances
    plain deficits cannot. Later stages polish the best plan of this length: changes on nonzero
    ticks before its last one (or the one before), which absorbs, each round reaching further back.
    """
    if _close(params, tables, n, state_f):
        return True
    span = int(params[P_SPAN])
    t_best, _ = _targets(params, tables, n, state_i, state_f)
    p, _ = _front_base(params, tables, n, t_best, base)
    if p < 0 or (p == 0 and n == 1):
        return True
    if stage == 0:
        _deficit_round(
            params, tables, n, base, p, 4, DEFICIT_LEVELS, 0, work_w, scratch, incumbent, state_i, state_f
        )
        return False
    if stage == 1:
        a_ticks, a_deltas = _relocation_entries(base, n, p, span)
        b_ticks, b_deltas = _hole_entries(base, p, HOLE_DEFICIT_LEVELS)
        _mitm(
            params,
            tables,
            n,
            base,
            p,
            a_ticks,
            a_deltas,
            b_ticks,
            b_deltas,
            work_w,
            scratch,
            incumbent,
            state_i,
            state_f,
        )
        return False
    round_ = stage - 2
    if round_ >= POLISH_ROUNDS or state_i[S_INC_LEN] != n:
        return True
    low = int(params[P_LOW])
    for k in range(n):
        base[k] = incumbent[k] - low
    last = n - 1
    while last > 0 and base[last] == 0:
        last -= 1
    if round_ % 2 == 1:
        k = last - 1
        while k > 0 and base[k] == 0:
            k -= 1
        if base[k] > 0:
            last = k
    # Rounds alternate the absorbing tick, then move to six ticks with smaller changes, then
    # reach further back.
    wide = (round_ // 2) % 2 == 1
    _deficit_round(
        params,
        tables,
        n,
        base,
        last,
        6 if wide else 4,
        POLISH_WIDE_LEVELS if wide else POLISH_LEVELS,
        round_ // 4,
        work_w,
        scratch,
        incumbent,
        state_i,
        state_f,
    )
    return False


@kernel
def _close(params: np.ndarray, tables: np.ndarray, n: int, state_f: np.ndarray) -> bool:
    """Whether the incumbent is within the tolerance of length n's bound (tuning it is done)."""
    bound = adjusted(params, tables, n, tables[T_ROOT, n])
    return state_f[F_INC] - bound <= params[P_TOL] * max(1.0, abs(state_f[F_INC]))


@kernel
def _deficit_round(
    params: np.ndarray,
    tables: np.ndarray,
    n: int,
    base: np.ndarray,
    p: int,
    movers: int,
    levels: int,
    skip: int,
    work_w: np.ndarray,
    scratch: np.ndarray,
    incumbent: np.ndarray,
    state_i: np.ndarray,
    state_f: np.ndarray,
) -> None:
    """Changes of up to `levels` on `movers` nonzero ticks before p (skipping `skip`), half per group."""
    block = np.empty(movers, dtype=np.int64)
    found = 0
    k = p - 1
    while k >= 0 and found < movers:
        if base[k] > 0:
            if skip > 0:
                skip -= 1
            else:
                block[found] = k
                found += 1
        k -= 1
    span = int(params[P_SPAN])
    a_ticks, a_deltas = _deficit_entries(base, block[0:found:2].copy(), levels, span)
    b_ticks, b_deltas = _deficit_entries(base, block[1:found:2].copy(), levels, span)
    _mitm(
        params,
        tables,
        n,
        base,
        p,
        a_ticks,
        a_deltas,
        b_ticks,
        b_deltas,
        work_w,
        scratch,
        incumbent,
        state_i,
        state_f,
    )


@kernel
def _offer_completion(
    params: np.ndarray,
    n: int,
    top: int,
    w: int,
    key: int,
    frames_i: np.ndarray,
    scratch: np.ndarray,
    incumbent: np.ndarray,
    state_i: np.ndarray,
    state_f: np.ndarray,
) -> None:
    """Offer the ticks fixed down to depth `top` (w there), zeros, and key's tick j set to x."""
    low = params[P_LOW]
    stride = int(params[P_SPAN]) + 1
    j = key // stride
    x = key - j * stride
    for k in range(top):
        scratch[k] = frames_i[k, FI_W] + low
    scratch[top] = w + low
    for k in range(top + 1, n):
        scratch[k] = low
    scratch[n - j] += x
    state_i[S_WORK] += n
    _offer(params, scratch, n, incumbent, state_i, state_f)


#: Lengths whose halves have at most this many throttle combinations are solved exhaustively
#: by meeting in the middle (any weights), and how many partners that may scan in all.
MEET_HALF = 1 << 17
MEET_SCAN = 1 << 22
#: Nodes a short length's search gets before it is settled by meeting in the middle.
MEET_AFTER_NODES = 5000


@kernel
def _combos(
    params: np.ndarray, tables: np.ndarray, n: int, first: int, last: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every throttle combination of ticks first..last-1 of length n: distance, speed, nonzeros, code."""
    span = int(params[P_SPAN])
    low = params[P_LOW]
    width = span + 1
    size = 1
    for _ in range(first, last):
        size *= width
    dist = np.zeros(size)
    speed = np.zeros(size)
    nonzero = np.zeros(size, dtype=np.int64)
    codes = np.arange(size)
    radix = 1
    for k in range(first, last):
        a = tables[T_AL, n - k]
        b = tables[T_BE, n - k]
        for index in range(size):
            w = (index // radix) % width
            dist[index] += a * w
            speed[index] += b * w
            if w + low != 0:
                nonzero[index] += 1
        radix *= width
    return dist, speed, nonzero, codes


@kernel
def _meet_length(
    params: np.ndarray,
    tables: np.ndarray,
    n: int,
    theta: float,
    scratch: np.ndarray,
    incumbent: np.ndarray,
    state_i: np.ndarray,
    state_f: np.ndarray,
) -> bool:
    """Solve a short length exhaustively: both halves' combinations, the second sorted by distance.

    For each first-half combination, partners are visited in order of their distance error and
    the scan ends once that error alone costs more than the best so far (or than theta): every
    skipped pair costs at least that, so the length's minimum is known (or known to be >= theta).
    Returns False, having done nothing, when the length is too long or the scan too wide.
    """
    span = int(params[P_SPAN])
    wd = params[P_WD]
    ws = params[P_WS]
    wz = state_f[F_WZEFF]
    half = n // 2
    width = span + 1
    size = 1
    for _ in range(n - half):
        size *= width
        if size > MEET_HALF:
            return False
    if wd <= 0.0 or n < 2:
        return False
    d1, v1, z1, _ = _combos(params, tables, n, 0, half)
    d2, v2, z2, _ = _combos(params, tables, n, half, n)
    order = np.argsort(d2)
    sd = d2[order]
    far0 = tables[T_RN, n]
    over0 = tables[T_CN, n]
    const = tables[T_CONST, n]
    best = INF
    best_a = 0
    best_b = 0
    # Stop scanning a little above theta, so that what is recorded, less its slack, still reaches it.
    limit = INF if theta == INF else theta + 2.0 * (theta - adjusted(params, tables, n, theta)) - const
    scanned = 0
    m = sd.shape[0]
    for a in range(d1.shape[0]):
        far = far0 - d1[a]
        over = over0 + v1[a]
        base = wz * z1[a]
        hi = np.searchsorted(sd, far)
        lo = hi - 1
        while True:
            if hi < m and (lo < 0 or sd[hi] - far <= far - sd[lo]):
                k = hi
                hi += 1
            elif lo >= 0:
                k = lo
                lo -= 1
            else:
                break
            error = wd * abs(far - sd[k])
            if error + base >= min(best, limit):
                break
            scanned += 1
            b = order[k]
            value = error + ws * max(0.0, over + v2[b]) + base + wz * z2[b]
            if value < best:
                best = value
                best_a = a
                best_b = b
        if scanned > MEET_SCAN:
            return False
    state_i[S_WORK] += 24 * (d1.shape[0] + d2.shape[0]) + scanned
    floor = min(best, limit) + const
    _record(state_f, adjusted(params, tables, n, floor))
    if best < INF:
        low = params[P_LOW]
        for k in range(half):
            scratch[k] = (best_a // width**k) % width + low
        for k in range(half, n):
            scratch[k] = (best_b // width ** (k - half)) % width + low
        _offer(params, scratch, n, incumbent, state_i, state_f)
    return True


@kernel
def _push(
    params: np.ndarray,
    tables: np.ndarray,
    frames_f: np.ndarray,
    frames_i: np.ndarray,
    depth: int,
    jl: int,
    far: float,
    over: float,
    nz: int,
    t_best: float,
    t_star: float,
) -> None:
    """Open a node: its tick's values are swept down and up from the relaxation's (the pivot)."""
    span = params[P_SPAN]
    a = tables[T_AL, jl]
    pivot = min(span, t_star / a) if a > 0.0 else 0.0
    share = min(span, t_best / a) if a > 0.0 else 0.0
    down = np.floor(pivot)
    frames_f[depth, FR_R] = far
    frames_f[depth, FR_C] = over
    frames_f[depth, FR_PIVOT] = pivot
    frames_f[depth, FR_TOP] = np.nan
    frames_i[depth, FI_NZ] = nz
    frames_i[depth, FI_DN] = int(down)
    frames_i[depth, FI_UP] = int(down) + 1
    frames_i[depth, FI_DN_ON] = 1 if down >= 1.0 else 0
    frames_i[depth, FI_UP_ON] = 1 if down + 1.0 <= span else 0
    frames_i[depth, FI_ZERO] = 0 if share < 0.5 else 1
    frames_i[depth, FI_TURN] = 0 if pivot - down <= 0.5 else 1
    frames_i[depth, FI_W] = 0


@kernel
def prepare(
    params: np.ndarray, tables: np.ndarray, order: np.ndarray, state_i: np.ndarray, state_f: np.ndarray
) -> None:
    """Tables, every length's root bound, the lengths in order of their bound, an empty search."""
    build_tables(params, tables)
    n_max = int(params[P_NMAX])
    state_f[F_WZEFF] = params[P_WZ] if params[P_LOW] == 0.0 else 0.0
    state_i[S_JRATIO] = ratio_index(params, tables)
    keys = np.empty(n_max)
    none = np.empty(0)
    for n in range(1, n_max + 1):
        b, _, _, _, _, _ = suffix_bound(
            params,
            tables,
            state_i[S_JRATIO],
            state_f[F_WZEFF],
            n,
            tables[T_RN, n],
            tables[T_CN, n],
            INF if n <= ROOT_SINGLE_TICKS else -INF,
            none,
            none.astype(np.int64),
        )
        b = max(
            b,
            lattice_bound(
                params,
                tables,
                state_i[S_JRATIO],
                state_f[F_WZEFF],
                n,
                tables[T_RN, n],
                tables[T_CN, n],
                INF if n <= ROOT_SINGLE_TICKS else -INF,
                none,
                none.astype(np.int64),
            ),
        )
        root = b + tables[T_CONST, n]
        tables[T_ROOT, n] = root
        keys[n - 1] = adjusted(params, tables, n, root)
    ranked = np.argsort(keys, kind="mergesort")
    for i in range(n_max):
        order[i] = ranked[i] + 1
    state_f[F_INC] = INF
    state_f[F_LBPR] = INF
    state_i[S_PHASE] = PHASE_HEURISTIC
    state_i[S_POS] = 0
    state_i[S_TOP] = -1
    state_i[S_NODES] = 0
    state_i[S_INC_LEN] = 0
    state_i[S_IMPROVED] = 0
    state_i[S_HPOS] = 0
    state_i[S_WORK] = 2 * n_max
    state_i[S_TABLE] = 0
    state_i[S_HEAVY] = 0


@kernel
def lower_bound(
    params: np.ndarray, tables: np.ndarray, order: np.ndarray, state_i: np.ndarray, state_f: np.ndarray
) -> float:
    """What the search has proven so far: no plan scores less than this."""
    bound = min(state_f[F_LBPR], state_f[F_INC])
    if state_i[S_PHASE] != PHASE_DONE and state_i[S_POS] < order.shape[0]:
        n = order[state_i[S_POS]]
        bound = min(bound, adjusted(params, tables, n, tables[T_ROOT, n]))
    return bound


@kernel
def run(
    params: np.ndarray,
    tables: np.ndarray,
    order: np.ndarray,
    state_i: np.ndarray,
    state_f: np.ndarray,
    frames_f: np.ndarray,
    frames_i: np.ndarray,
    incumbent: np.ndarray,
    scratch: np.ndarray,
    work_w: np.ndarray,
    base: np.ndarray,
    table_v: np.ndarray,
    table_k: np.ndarray,
    work_limit: int,
) -> int:
    """Advance the search by about work_limit units; returns the phase reached (PHASE_DONE: proven)."""
    n_max = int(params[P_NMAX])
    span = params[P_SPAN]
    wz = state_f[F_WZEFF]
    j_ratio = state_i[S_JRATIO]
    limit = state_i[S_WORK] + work_limit
    while state_i[S_WORK] < limit:
        phase = state_i[S_PHASE]
        if phase == PHASE_DONE:
            break
        if phase == PHASE_HEURISTIC:
            h = state_i[S_HPOS]
            heavy = state_i[S_HEAVY] == 1
            n = order[h] if h < n_max else 0
            theta = _theta(params, state_f[F_INC])
            if h >= min(n_max, HEURISTIC_LENGTHS) or adjusted(params, tables, n, tables[T_ROOT, n]) >= theta:
                state_i[S_PHASE] = PHASE_SEARCH
                if heavy:
                    state_i[S_HEAVY] = 2
                continue
            if heavy:
                if _heavy(
                    params, tables, n, state_i[S_HSTAGE], work_w, base, scratch, incumbent, state_i, state_f
                ):
                    state_i[S_HPOS] = h + 1
                    state_i[S_HSTAGE] = 0
                else:
                    state_i[S_HSTAGE] += 1
            else:
                _quick(params, tables, n, work_w, base, scratch, incumbent, state_i, state_f)
                state_i[S_HPOS] = h + 1
            state_i[S_WORK] += 16
            continue
        # PHASE_SEARCH
        if state_i[S_HEAVY] == 0 and state_i[S_NODES] >= HEAVY_AFTER_NODES:
            # The search is not closing quickly: look harder for an incumbent first.
            state_i[S_HEAVY] = 1
            state_i[S_HPOS] = 0
            state_i[S_HSTAGE] = 0
            state_i[S_PHASE] = PHASE_HEURISTIC
            continue
        if state_i[S_TABLE] == 0 and table_v.shape[0] > 0 and state_i[S_NODES] >= TABLE_AFTER_NODES:
            # Only a search that goes past a length's root needs the single-tick table.
            build_single_table(params, tables, table_v, table_k)
            state_i[S_TABLE] = 1
            state_i[S_WORK] += table_v.shape[0] // 4
        single_v = table_v if state_i[S_TABLE] == 1 else table_v[:0]
        single_k = table_k if state_i[S_TABLE] == 1 else table_k[:0]
        top = state_i[S_TOP]
        theta = _theta(params, state_f[F_INC])
        if top < 0:
            pos = state_i[S_POS]
            if pos >= n_max:
                state_i[S_PHASE] = PHASE_DONE
                break
            n = order[pos]
            root = adjusted(params, tables, n, tables[T_ROOT, n])
            if root >= theta:
                _record(state_f, root)
                state_i[S_PHASE] = PHASE_DONE
                break
            state_i[S_CURN] = n
            far = tables[T_RN, n]
            over = tables[T_CN, n]
            if n == 1:
                _leaf(params, tables, 1, far, over, 0, frames_i, scratch, incumbent, state_i, state_f)
                state_i[S_POS] = pos + 1
                continue
            state_i[S_LNODES] = 0
            _, _, t_best, t_star, _, _ = suffix_bound(
                params, tables, j_ratio, wz, n, far, over, -INF, single_v, single_k
            )
            _push(params, tables, frames_f, frames_i, 0, n, far, over, 0, t_best, t_star)
            state_i[S_TOP] = 0
            state_i[S_WORK] += 8
            continue
        n = state_i[S_CURN]
        if state_i[S_LNODES] == MEET_AFTER_NODES and _meet_length(
            params, tables, n, theta, scratch, incumbent, state_i, state_f
        ):
            # A short length the search is slow to close: settled exhaustively instead.
            state_i[S_TOP] = -1
            state_i[S_POS] += 1
            continue
        jl = n - top
        # Next value of this node's tick: zero first or last, the sweeps alternating between.
        kind = 0
        w = 0
        if frames_i[top, FI_ZERO] == 0:
            frames_i[top, FI_ZERO] = 2
        elif frames_i[top, FI_DN_ON] == 1 or frames_i[top, FI_UP_ON] == 1:
            take_down = frames_i[top, FI_DN_ON] == 1 and (
                frames_i[top, FI_UP_ON] == 0 or frames_i[top, FI_TURN] == 0
            )
            if take_down:
                w = frames_i[top, FI_DN]
                frames_i[top, FI_DN] = w - 1
                if w - 1 < 1:
                    frames_i[top, FI_DN_ON] = 0
                if frames_i[top, FI_UP_ON] == 1:
                    frames_i[top, FI_TURN] = 1
                kind = -1
            else:
                w = frames_i[top, FI_UP]
                frames_i[top, FI_UP] = w + 1
                if w + 1 > span:
                    frames_i[top, FI_UP_ON] = 0
                if frames_i[top, FI_DN_ON] == 1:
                    frames_i[top, FI_TURN] = 0
                kind = 1
        elif frames_i[top, FI_ZERO] == 1:
            frames_i[top, FI_ZERO] = 2
        else:
            state_i[S_TOP] = top - 1
            if top == 0:
                state_i[S_POS] += 1
            continue
        frames_i[top, FI_W] = w
        far = frames_f[top, FR_R] - tables[T_AL, jl] * w
        over = frames_f[top, FR_C] + tables[T_BE, jl] * w
        nz = frames_i[top, FI_NZ] + (1 if w > 0 else 0)
        fixed = wz * nz + tables[T_CONST, n]
        cutoff = theta - fixed + params[P_TOL] * max(1.0, abs(theta))
        bound, sweep, t_best, t_star, single_value, single_key = suffix_bound(
            params, tables, j_ratio, wz, jl - 1, far, over, cutoff, single_v, single_k
        )
        bound = max(
            bound, lattice_bound(params, tables, j_ratio, wz, jl - 1, far, over, cutoff, single_v, single_k)
        )
        state_i[S_NODES] += 1
        state_i[S_LNODES] += 1
        # (a lattice bound takes two more relaxations)
        lattice = lattice_excess(params, tables, jl - 1) < 1.0
        state_i[S_WORK] += (16 + (jl if single_v.shape[0] == 0 else 8)) * (3 if lattice else 1)
        if kind != 0:
            sweep_adj = adjusted(params, tables, n, sweep + fixed)
            if sweep_adj >= theta and kind > 0:
                # Going up, a class of completions may still improve up to w = span: check there.
                if np.isnan(frames_f[top, FR_TOP]):
                    _, at_span, _, _, _, _ = suffix_bound(
                        params,
                        tables,
                        j_ratio,
                        wz,
                        jl - 1,
                        frames_f[top, FR_R] - tables[T_AL, jl] * span,
                        frames_f[top, FR_C] + tables[T_BE, jl] * span,
                        -INF,
                        single_v,
                        single_k,
                    )
                    frames_f[top, FR_TOP] = adjusted(params, tables, n, at_span + fixed)
                sweep_adj = min(sweep_adj, frames_f[top, FR_TOP])
            if sweep_adj >= theta:
                # Every value further out in this direction is bounded by this (see suffix_bound).
                _record(state_f, sweep_adj)
                if kind < 0:
                    frames_i[top, FI_DN_ON] = 0
                else:
                    frames_i[top, FI_UP_ON] = 0
                continue
        if single_value + fixed < state_f[F_INC] and single_key > 0:
            # The bound found a whole plan: this prefix and one more nonzero tick.
            _offer_completion(params, n, top, w, single_key, frames_i, scratch, incumbent, state_i, state_f)
            theta = _theta(params, state_f[F_INC])
        bound_adj = adjusted(params, tables, n, bound + fixed)
        if bound_adj >= theta:
            _record(state_f, bound_adj)
            continue
        if jl - 1 == 1:
            _leaf(params, tables, n, far, over, nz, frames_i, scratch, incumbent, state_i, state_f)
            continue
        _push(params, tables, frames_f, frames_i, top + 1, jl - 1, far, over, nz, t_best, t_star)
        state_i[S_TOP] = top + 1
    return state_i[S_PHASE]


def kernel_params(problem: Problem, config: PlannerConfig, tolerance: float) -> np.ndarray:
    """The kernel's view of a request: the problem, the score's weights and the plan's bounds."""
    params = np.zeros(N_PARAMS)
    params[P_DIST : P_FRIC + 1] = problem_array(problem)
    params[P_WD : P_THR + 1] = weights_array(config)
    params[P_LOW] = config.min_throttle
    params[P_SPAN] = config.max_throttle - config.min_throttle
    params[P_NMAX] = config.max_ticks
    params[P_TOL] = tolerance
    return params


@dataclass
class Search:
    """The kernel's state for one plan request (all of it lives in these arrays)."""

    params: np.ndarray
    tables: np.ndarray
    order: np.ndarray
    state_i: np.ndarray
    state_f: np.ndarray
    frames_f: np.ndarray
    frames_i: np.ndarray
    incumbent: np.ndarray
    scratch: np.ndarray
    work_w: np.ndarray
    base: np.ndarray
    table_v: np.ndarray
    table_k: np.ndarray

    @classmethod
    def start(cls, problem: Problem, config: PlannerConfig, tolerance: float) -> Search:
        """The arrays of a search, its tables and root bounds computed (about 2 x max_ticks work)."""
        n_max = config.max_ticks
        singles = n_max * (config.max_throttle - config.min_throttle)
        table = singles if singles <= SINGLE_TABLE_MAX else 0
        search = cls(
            params=kernel_params(problem, config, tolerance),
            tables=np.zeros((T_ROWS, n_max + 1)),
            order=np.zeros(n_max, dtype=np.int64),
            state_i=np.zeros(N_STATE_I, dtype=np.int64),
            state_f=np.zeros(N_STATE_F),
            frames_f=np.zeros((n_max, N_FRAME_F)),
            frames_i=np.zeros((n_max, N_FRAME_I), dtype=np.int64),
            incumbent=np.zeros(n_max, dtype=np.int64),
            scratch=np.zeros(n_max, dtype=np.int64),
            work_w=np.zeros(n_max, dtype=np.int64),
            base=np.zeros(n_max, dtype=np.int64),
            table_v=np.empty(table),
            table_k=np.empty(table, dtype=np.int64),
        )
        prepare(search.params, search.tables, search.order, search.state_i, search.state_f)
        return search

    def within_range(self) -> bool:
        """Whether every quantity a plan can produce stays far from overflow."""
        p, t = self.params, self.tables
        n = int(p[P_NMAX])
        span = p[P_SPAN]
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is the answer here
            distance = abs(p[P_DIST]) + t[T_AN, n] + span * t[T_CAH, n]
            speed = p[P_THR] + t[T_BN, n] + span * t[T_CBH, n]
            weights = p[P_WD] + p[P_WS] + p[P_WL] + p[P_WZ]
            magnitude = (weights + 1.0) * (distance + speed + n)
        return bool(np.isfinite(t).all()) and math.isfinite(magnitude) and magnitude < MAX_MAGNITUDE

    def step(self, work: int) -> bool:
        """One slice of about `work` units (see MAX_STEP_WORK); True once the search is complete."""
        phase = run(
            self.params,
            self.tables,
            self.order,
            self.state_i,
            self.state_f,
            self.frames_f,
            self.frames_i,
            self.incumbent,
            self.scratch,
            self.work_w,
            self.base,
            self.table_v,
            self.table_k,
            work,
        )
        return int(phase) == PHASE_DONE

    def take_improvement(self) -> bool:
        """Whether the incumbent improved since the last call."""
        improved = bool(self.state_i[S_IMPROVED])
        self.state_i[S_IMPROVED] = 0
        return improved

    @property
    def throttles(self) -> tuple[int, ...]:
        """The best plan so far (Python ints)."""
        plan: list[int] = self.incumbent[: self.state_i[S_INC_LEN]].tolist()
        return tuple(plan)

    @property
    def score(self) -> float:
        """The best plan's score: `score_plan`, the physics' score bit for bit."""
        return float(self.state_f[F_INC])

    @property
    def nodes(self) -> int:
        return int(self.state_i[S_NODES])

    def lower_bound(self) -> float:
        """No plan scores less than this (what the search has proven so far)."""
        return float(lower_bound(self.params, self.tables, self.order, self.state_i, self.state_f))


#: Beyond this magnitude the kernel's arithmetic has no headroom: the planner answers without a proof.
MAX_MAGNITUDE = 1e290


def warm_up() -> None:
    """Compile or load every kernel the exact planner calls, with the types it passes."""
    search = Search.start(Problem(500.0, 1.0, 10.0, 0.1), PlannerConfig(max_ticks=12), 1e-6)
    while not search.step(1 << 30):
        pass
    search.lower_bound()
