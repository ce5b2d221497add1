"""Baseline for `make bench`: the exact strategy before its compiled kernel, in numpy.

The earlier EXACT planner (issue 9): every length's front-loaded relaxation in a few vectorised
passes, then the relaxation's rounding tuned by a meet-in-the-middle search over small deficits
and trims. Its bound is sound, but the plan is only near-optimal: nothing proves it. The service's
EXACT strategy is now the compiled branch and bound (adapters/planners/kernel/exact.py); this one
stays, unchanged, as the yardstick its per-plan CPU time is measured against in the same process.

How it works, for a fixed length n, with r = 1 - f and j = n - k + 1 ticks left from tick k:
    distance  D = A_n + sum_k a_k u_k,   a_k = (r + ... + r^j) / m
    speed   v_n = B_n + sum_k b_k u_k,   b_k = r^j / m
a_k falls and b_k / a_k rises with k, so for any distance the plan that spends its throttle
earliest ("front-loaded": full ticks, one partial, zeros) has the least final speed and the
least throttle: the relaxation of each length is a convex piecewise-linear function of the
distance bought, minimised at one of O(n) breakpoints. Lengths are explored in order of their
bound and pruned once the bound cannot beat the incumbent.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from numpy.typing import NDArray

from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem, Strategy
from throttling_sequencer.domain.physics import score
from throttling_sequencer.domain.ports import UNHEARD, Improvement, PlannerResult, ProgressSink, StopSignal

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Unit roundoff of float64: rounding errors are bounded in multiples of it (see _rounding_slack).
EPS = float(np.finfo(np.float64).eps) / 2
#: Most cells (lengths x breakpoints) relaxed between two polls of the stop signal.
RELAXATION_CELLS = 1 << 15
#: Adjustment search sizes: deficits per full tick, ticks per deficit group, trim throttle range.
DEFICIT_LEVELS = 14
LATE_DEFICIT_LEVELS = 8
TRANSFER_TICKS = 8
TRIM_LEVELS = 12
#: Candidates from the linearised search that are scored exactly.
EXACT_CANDIDATES = 12
#: Front-loaded roundings whose adjustments are searched.
TUNED_BASES = 4
#: Extra ticks of zeros tried before the partial tick.
GAPS = 3
#: A plan within this of its length's certified bound is accepted: it is provably that close
#: to the best plan of that length.
PROVEN = 1e-6


@dataclass(frozen=True)
class _Length:
    """One plan length n, relative to the throttle floor (w = u - min_throttle)."""

    n: int
    powers: FloatArray  # r^j, j = 1..N
    sums0: FloatArray  # r + ... + r^j, j = 0..N
    mass: float
    remaining: float  # distance still to cover with w = 0
    speed0: float  # final speed with w = 0
    #: The relaxation: its bound, and the front-loaded distance that attains it.
    bound: float
    target: float
    #: How far `bound` was lowered for rounding.
    slack: float

    @cached_property
    def a(self) -> FloatArray:
        """Distance per unit of w at tick k = 0..n-1."""
        return self.sums0[self.n : 0 : -1] / self.mass

    @cached_property
    def b(self) -> FloatArray:
        """Final speed per unit of w at tick k = 0..n-1."""
        return self.powers[self.n - 1 :: -1] / self.mass


class EarlierExactPlanner:
    strategy = Strategy.EXACT

    def plan(
        self,
        problem: Problem,
        config: PlannerConfig,
        stop: StopSignal,
        progress: ProgressSink = UNHEARD,
    ) -> PlannerResult:
        relaxations = _relaxations(problem, config, stop)
        lower_bound = relaxations.lower_bound(config)
        best: tuple[float, tuple[int, ...]] | None = None
        explored = 0
        for index in np.argsort(relaxations.bounds, kind="stable"):
            bound, slack = float(relaxations.bounds[index]), float(relaxations.slack[index])
            if best is not None and (best[0] <= _proven(bound, slack) or stop.should_stop()):
                break
            explored += 1
            _, plan = _best_integer_plan(relaxations.length(int(index) + 1), config, stop)
            throttles = tuple(int(u) for u in plan + config.min_throttle)
            # Compared and reported by the score as the physics defines it, not the closed form.
            total = score(problem, config, throttles).total
            if best is None or total < best[0]:
                best = (total, throttles)
                progress.improved(Improvement(throttles, explored, lower_bound))
        assert best is not None
        return PlannerResult(throttles=best[1], iterations=explored, lower_bound=lower_bound)


@dataclass(frozen=True, slots=True)
class _Relaxations:
    """The bounds of lengths 1..len(bounds) (index n - 1); `length(n)` builds one length's details.

    Fewer than max_ticks lengths are present when planning was stopped while relaxing.
    """

    powers: FloatArray
    sums0: FloatArray
    mass: float
    remaining: FloatArray
    speed0: FloatArray
    bounds: FloatArray
    targets: FloatArray
    #: How far each bound was lowered to cover floating-point rounding (see _rounding_slack).
    slack: FloatArray

    def length(self, n: int) -> _Length:
        i = n - 1
        return _Length(
            n,
            self.powers,
            self.sums0,
            self.mass,
            float(self.remaining[i]),
            float(self.speed0[i]),
            float(self.bounds[i]),
            float(self.targets[i]),
            float(self.slack[i]),
        )

    def lower_bound(self, config: PlannerConfig) -> float:
        """The least bound; lengths not relaxed score at least their length term, w_l * n."""
        relaxed = len(self.bounds)
        best = float(self.bounds.min())
        if relaxed < config.max_ticks:
            # physics.score adds non-negative terms to w_l * n, so this is exact in floating point.
            best = min(best, config.length_weight * (relaxed + 1))
        return best


def _relaxations(problem: Problem, config: PlannerConfig, stop: StopSignal) -> _Relaxations:
    """Every length's lower bound (rows n = 1..N), vectorised over lengths and breakpoints.

    The O(N^2) work is done in row blocks of at most RELAXATION_CELLS cells, polling `stop`
    between blocks: once it says stop, only the lengths relaxed so far are kept.
    """
    big_n = config.max_ticks
    m, low = problem.mass, config.min_throttle
    r = 1.0 - problem.friction
    powers: FloatArray = r ** np.arange(1, big_n + 1, dtype=np.float64)  # r^j, j = 1..N
    sums0 = np.concatenate([[0.0], np.cumsum(powers)])  # S_j = r + ... + r^j, S_0 = 0
    cumsums0 = np.concatenate([[0.0], np.cumsum(sums0[1:])])  # C_j = S_1 + ... + S_j

    n = np.arange(1, big_n + 1)
    remaining = problem.distance - problem.initial_speed * sums0[n] - low * cumsums0[n] / m
    speed0 = problem.initial_speed * powers[n - 1] + low * sums0[n] / m
    block = max(1, RELAXATION_CELLS // (big_n + 1))
    blocks: list[FloatArray] = []
    targets: list[FloatArray] = []
    for first in range(0, big_n, block):
        if first > 0 and stop.should_stop():
            break
        rows = n[first : first + block]
        bound, target = _relax(
            rows, powers, sums0, cumsums0, remaining[rows - 1], speed0[rows - 1], m, config
        )
        blocks.append(bound)
        targets.append(target)
    relaxed = np.concatenate(blocks)
    count = len(relaxed)
    slack = _rounding_slack(problem, config, n[:count], powers, sums0, cumsums0)
    # Every plan of length n scores at least w_l * n (also where magnitudes overflowed to inf).
    bounds = np.fmax(relaxed - slack, config.length_weight * n[:count])
    return _Relaxations(powers, sums0, m, remaining, speed0, bounds, np.concatenate(targets), slack)


def _relax(
    n: IntArray,
    powers: FloatArray,
    sums0: FloatArray,
    cumsums0: FloatArray,
    remaining: FloatArray,
    speed0: FloatArray,
    m: float,
    config: PlannerConfig,
) -> tuple[FloatArray, FloatArray]:
    """The relaxation's minimum for the lengths `n`, and the front-loaded distance attaining it.

    Computed as is, before the rounding slack is taken off.
    """
    low, span = config.min_throttle, config.max_throttle - config.min_throttle
    wd, ws, wl, wz = config.distance_weight, config.speed_weight, config.length_weight, config.nonzero_weight
    threshold = config.speed_threshold
    rows = np.arange(len(n))
    # Front-loaded breakpoints: i full ticks of length n buy P[n, i] distance and V[n, i] speed.
    i = np.arange(int(n[-1]) + 1)
    valid = i[None, :] <= n[:, None]
    rest = np.where(valid, n[:, None] - i[None, :], 0)
    bought = np.where(valid, span * (cumsums0[n][:, None] - cumsums0[rest]) / m, np.inf)
    speed = np.where(valid, span * (sums0[n][:, None] - sums0[rest]) / m, np.inf)
    touched = np.broadcast_to(i[None, :] if low == 0 else n[:, None], bought.shape)
    with np.errstate(invalid="ignore"):
        values = (
            wd * np.abs(remaining[:, None] - bought)
            + ws * np.maximum(0.0, speed0[:, None] + speed - threshold)
            + wz * touched
        )
    values = np.where(valid, values, np.inf)
    best_value = values.min(axis=1)
    best_target = bought[rows, values.argmin(axis=1)]
    total = bought[rows, n]
    if span > 0:

        def ratio(k: IntArray) -> FloatArray:
            """Speed bought per unit of distance while tick k (1-based) fills: b_k / a_k."""
            left = n - k + 1
            result: FloatArray = powers[left - 1] / np.maximum(sums0[left], 1e-300)
            return result

        # Hit the distance exactly: P = remaining.
        hits = (remaining > 0) & (remaining < total)
        k = np.clip((bought < remaining[:, None]).sum(axis=1), 1, n)
        v_hit = speed[rows, k - 1] + (remaining - bought[rows, k - 1]) * ratio(k)
        count = k if low == 0 else n
        hit_value = ws * np.maximum(0.0, speed0 + v_hit - threshold) + wz * count
        better = hits & (hit_value < best_value)
        best_value = np.where(better, hit_value, best_value)
        best_target = np.where(better, remaining, best_target)
        # Stop exactly at the speed threshold.
        crosses = (speed0 < threshold) & (threshold < speed0 + speed[rows, n])
        k = np.clip((speed0[:, None] + speed < threshold).sum(axis=1), 1, n)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # rows not crossing are dropped
            rises = ratio(k)
            p_stop = bought[rows, k - 1] + (threshold - speed0 - speed[rows, k - 1]) / rises
            # Where the speed crosses is only known up to the rounding of the speeds, divided by
            # how little speed a unit of distance buys there: the value is taken that much lower.
            unsure = (4 * n + 8) * EPS * (threshold + speed0 + speed[rows, n]) / rises
            stop_value = wd * np.maximum(0.0, np.abs(remaining - p_stop) - unsure) + wz * (
                k if low == 0 else n
            )
        better = crosses & (stop_value < best_value)
        best_value = np.where(better, stop_value, best_value)
        best_target = np.where(better, p_stop, best_target)
    return best_value + wl * n, best_target


def _rounding_slack(
    problem: Problem,
    config: PlannerConfig,
    n: IntArray,
    powers: FloatArray,
    sums0: FloatArray,
    cumsums0: FloatArray,
) -> FloatArray:
    """An absolute bound on the rounding error of a length-n score, relaxation and physics alike.

    A plan's distance and final speed are sums of non-negative terms, built by the simulator
    in n steps of 3 roundings and by the closed form from n-term sums of powers: either is
    within (4n + 8) eps of its exact value, relative to the most it can be (every tick at
    max_throttle). Each weighted term errs by at most its weight times that, and the bound
    must cover the relaxation's error and the simulator's: twice the sum.
    """
    m, high = problem.mass, config.max_throttle
    # The largest distance and final speed any plan of length n reaches; |remaining| <= reach.
    reach = abs(problem.distance) + problem.initial_speed * sums0[n] + high * cumsums0[n] / m
    fastest = problem.initial_speed * powers[n - 1] + high * sums0[n] / m
    # The relaxation prices distance in speed at b_k / a_k <= 1, so distance errors reach speed.
    magnitude = (
        config.distance_weight * reach
        + config.speed_weight * (config.speed_threshold + fastest + reach)
        + (config.length_weight + config.nonzero_weight) * n
    )
    slack: FloatArray = np.asarray(2 * (4 * n + 8) * EPS * magnitude, dtype=np.float64)
    return slack


def _proven(bound: float, slack: float) -> float:
    """Scores at or below this match the bound up to its slack: nothing better exists."""
    return bound + 2 * slack + PROVEN


def _scores(length: _Length, config: PlannerConfig, plans: IntArray) -> FloatArray:
    """Exact scores of integer plans (rows of w), from the closed form."""
    distance = plans @ length.a
    speed = length.speed0 + plans @ length.b
    nonzero = np.count_nonzero(plans + config.min_throttle, axis=1)
    scores: FloatArray = (
        config.distance_weight * np.abs(length.remaining - distance)
        + config.speed_weight * np.maximum(0.0, speed - config.speed_threshold)
        + config.length_weight * length.n
        + config.nonzero_weight * nonzero
    )
    return scores


def _best_integer_plan(length: _Length, config: PlannerConfig, stop: StopSignal) -> tuple[float, IntArray]:
    """The best integer plan of this length that the adjustment search finds before `stop`."""
    n, a = length.n, length.a
    span = config.max_throttle - config.min_throttle
    # Front-loaded roundings of the relaxation's optimum: `f` full ticks, then the partial tick,
    # right after them or a few ticks later (zeros between give it another distance per unit).
    filled = np.concatenate([[0.0], np.cumsum(span * a)])
    full = int(np.clip(np.searchsorted(filled, length.target) - 1, 0, n))
    bases: list[tuple[int, IntArray]] = []
    for f in range(max(0, full - 1), min(n, full + 1) + 1):
        for at in range(f, min(n, f + 1 + (GAPS if f == full else 0))):
            with np.errstate(over="ignore", invalid="ignore"):
                partial = (length.target - filled[f]) / a[at]
            # Where the physics overflowed (inf or NaN), clip before converting to int.
            partial = float(np.clip(np.nan_to_num(partial), 0, span))
            for p in {int(np.floor(partial)), int(np.ceil(partial))}:
                plan = np.zeros(n, dtype=np.int64)
                plan[:f] = span
                plan[at] = int(np.clip(p, 0, span))
                bases.append((at, plan))
        if f == n:
            plan = np.zeros(n, dtype=np.int64)
            plan[:f] = span
            bases.append((n, plan))
    plans = np.array([plan for _, plan in bases])
    scores = _scores(length, config, plans)
    best = int(np.argmin(scores))
    result = (float(scores[best]), plans[best])
    if span == 0 or length.remaining <= 0:
        return result
    tuned_shapes: set[tuple[int, int]] = set()
    for index in np.argsort(scores):
        if (
            result[0] <= _proven(length.bound, length.slack)
            or len(tuned_shapes) == TUNED_BASES
            or stop.should_stop()
        ):
            break
        at, plan = bases[index]
        shape = (at, int(np.count_nonzero(plan[:at] == span)))
        if at < n and plan[at] > 0 and shape not in tuned_shapes:
            tuned_shapes.add(shape)
            tuned = _tune(length, config, plan, at, result[0] - length.bound)
            if tuned[0] < result[0]:
                result = tuned
    return result


@dataclass(frozen=True, slots=True)
class _Moves:
    """Candidate adjustments, sparse: row i adds deltas[i, c] to tick ticks[i, c] (row 0: nothing)."""

    ticks: IntArray
    deltas: IntArray

    @staticmethod
    def dense(ticks: IntArray, rows: IntArray) -> _Moves:
        return _Moves(np.broadcast_to(ticks, rows.shape).copy(), rows)

    @staticmethod
    def join(*parts: _Moves) -> _Moves:
        width = max(part.ticks.shape[1] for part in parts)
        ticks = np.zeros((sum(len(part.ticks) for part in parts), width), dtype=np.int64)
        deltas = np.zeros_like(ticks)
        row = 0
        for part in parts:
            rows, cols = part.ticks.shape
            ticks[row : row + rows, :cols] = part.ticks
            deltas[row : row + rows, :cols] = part.deltas
            row += rows
        return _Moves(ticks, deltas)


def _tune(
    length: _Length, config: PlannerConfig, base: IntArray, partial: int, budget: float
) -> tuple[float, IntArray]:
    """Re-distribute throttle inside the block and add trims; the partial tick absorbs the rest.

    Each adjustment is priced linearly: the distance it shifts is made good by the partial
    tick, and the final speed that costs is charged at the speed weight (below the threshold
    speed is free, so adjustments are kept within the remaining slack instead). No adjustment
    costing more than `budget`, the most a better plan could gain, is considered.
    """
    n, a, b = length.n, length.a, length.b
    span = config.max_throttle - config.min_throttle
    gauge = a[partial]
    compensation = b[partial] / gauge  # final speed per unit of distance bought at the partial tick
    slack = config.speed_threshold - (length.speed0 + float(base @ b))
    speeding = slack <= 0
    ws = config.speed_weight if speeding else 0.0
    wz = config.nonzero_weight if config.min_throttle == 0 else 0.0
    rise = compensation * a - b  # final speed added by moving one unit of throttle from tick k

    def cap(levels: int, ticks: IntArray) -> int:
        """Deficit depth whose worst-case speed increase fits the slack, or whose cost the budget."""
        deepest = min(levels, span)
        total = float(np.sum(np.maximum(rise[ticks], 0.0)))
        if total <= 0 or (speeding and ws == 0):
            return deepest
        # Per level of depth: its cost (speeding) or its speed increase. The product can underflow
        # to 0 though `total` is not (r^j is subnormal on long plans at high friction): compare
        # before dividing.
        per_level, room = (ws * total, budget) if speeding else (total, slack)
        if per_level * deepest <= room:
            return deepest
        return 0 if room <= 0 else int(room / per_level)

    def deficits(ticks: IntArray, levels: int) -> _Moves:
        return _Moves.dense(ticks, -_moves(len(ticks), cap(levels, ticks)))

    full = np.flatnonzero(base[:partial] == span)
    early, late = full[:2], full[-2:]
    # Large moves of one tick's throttle: every full tick in a short block, else a spread of them.
    if len(full) <= TRANSFER_TICKS:
        movers = full
    else:
        picks = {1, 2, 3, 4, 6, 10, len(full) // 2, len(full) - 3}
        movers = full[sorted(len(full) - pick for pick in picks if 0 < pick <= len(full))]
    limit = budget / max(ws, 1e-300) if speeding else slack
    with np.errstate(over="ignore", invalid="ignore"):
        reach = limit / np.maximum(rise[movers], 1e-300)
    depth = np.clip(np.nan_to_num(reach, nan=0.0, posinf=span), 0, span).astype(np.int64)
    transfer_ticks = np.concatenate([[0], np.repeat(movers, depth)])
    # Within each mover's run, the deficit counts 1..depth.
    starts = np.repeat(np.cumsum(depth) - depth, depth)
    transfer_deltas = np.concatenate([[0], -(np.arange(int(depth.sum())) - starts + 1)])
    # Trims: one more tick after the partial one, with a small throttle.
    trim_levels = np.arange(1, min(TRIM_LEVELS, span) + 1)
    trim_ticks = np.repeat(np.arange(partial + 1, n), len(trim_levels))
    trim_deltas = np.tile(trim_levels, n - partial - 1)
    trim_cost = wz + ws * trim_deltas * rise[trim_ticks]
    useful = (base[trim_ticks] == 0) & (trim_cost < budget)  # only on empty ticks, and worth it
    trim_ticks = np.concatenate([[0], trim_ticks[useful]])
    trim_deltas = np.concatenate([[0], trim_deltas[useful]])
    group_a = _Moves.join(
        deficits(early, DEFICIT_LEVELS),
        _Moves(transfer_ticks[:, None], transfer_deltas[:, None].astype(np.int64)),
    )
    group_b = _Moves.join(
        deficits(late, LATE_DEFICIT_LEVELS),
        _Moves(trim_ticks[:, None], trim_deltas[:, None].astype(np.int64)),
    )

    def priced(group: _Moves) -> tuple[FloatArray, FloatArray]:
        shift = (group.deltas * a[group.ticks]).sum(axis=1)
        speed_rise = (group.deltas * b[group.ticks]).sum(axis=1) - compensation * shift
        was = base[group.ticks] + config.min_throttle != 0
        now = base[group.ticks] + group.deltas + config.min_throttle != 0
        touched = group.deltas != 0
        cost = ws * speed_rise + wz * ((now & touched).sum(axis=1) - (was & touched).sum(axis=1))
        if not speeding:
            cost = np.where(speed_rise <= slack, cost, np.inf)
        return shift, cost

    shift_a, cost_a = priced(group_a)
    shift_b, cost_b = priced(group_b)
    # The partial tick must be able to make good A's shift and any B's: keep it inside 0..span.
    margin = float(np.max(np.abs(shift_b))) / gauge + 1.0
    absorbed = base[partial] + (length.remaining - float(base @ a) - shift_a) / gauge
    cost_a = np.where((absorbed >= margin) & (absorbed <= span - margin), cost_a, np.inf)

    # For each A, the B minimising cost_b + W * (circular distance of the residual to a whole
    # number of partial-tick units): a lower envelope of V shapes, by prefix and suffix minima.
    weight = config.distance_weight * gauge
    x_b = np.mod(shift_b / gauge, 1.0)
    order = np.argsort(x_b)
    xs = np.concatenate([x_b[order] - 1.0, x_b[order], x_b[order] + 1.0])
    cs = np.tile(cost_b[order], 3)
    ids = np.tile(order, 3)
    left_min, left_arg = _running_min(cs - weight * xs)
    right_min, right_arg = _running_min((cs + weight * xs)[::-1])
    right_min, right_arg = right_min[::-1], len(xs) - 1 - right_arg[::-1]
    error = length.remaining - float(base @ a)
    query = np.mod((error - shift_a) / gauge, 1.0)
    at = np.searchsorted(xs, query)
    before, after = np.maximum(at - 1, 0), np.minimum(at, len(xs) - 1)
    from_left = weight * query + left_min[before]
    from_right = -weight * query + right_min[after]
    partner = np.where(from_left <= from_right, ids[left_arg[before]], ids[right_arg[after]])
    approx = cost_a + np.minimum(from_left, from_right)
    chosen = np.argsort(approx)[:EXACT_CANDIDATES]

    candidates = np.repeat(base[None, :], len(chosen), axis=0)
    rows = np.arange(len(chosen))[:, None]
    np.add.at(candidates, (rows, group_a.ticks[chosen]), group_a.deltas[chosen])
    np.add.at(candidates, (rows, group_b.ticks[partner[chosen]]), group_b.deltas[partner[chosen]])
    residual = length.remaining - candidates @ a
    candidates[:, partial] = np.clip(
        candidates[:, partial] + np.round(residual / gauge).astype(np.int64), 0, span
    )
    candidates = np.clip(candidates, 0, span)
    scores = _scores(length, config, candidates)
    best = int(np.argmin(scores))
    return float(scores[best]), candidates[best]


@lru_cache(maxsize=64)
def _moves(ticks: int, levels: int) -> IntArray:
    """Every vector of `ticks` whole numbers in 0..levels, one per row (row 0 is all zeros)."""
    if ticks == 0:
        return np.zeros((1, 0), dtype=np.int64)
    grid = np.indices((levels + 1,) * ticks).reshape(ticks, -1).T
    return np.ascontiguousarray(grid, dtype=np.int64)


def _running_min(values: FloatArray) -> tuple[FloatArray, IntArray]:
    """Prefix minima and the index attaining each."""
    minima = np.minimum.accumulate(values)
    index = np.arange(len(values))
    arg = np.maximum.accumulate(np.where(values == minima, index, 0))
    return minima, arg
