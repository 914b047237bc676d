"""The numerical core of the synthetic tape: one block of signal periods at a time.

The price model, per signal period p (length Δ, regime g_p):

    r_p = φ r_{p-1} + sqrt(1 - φ²) σ_p ε_p      σ_p = σ · regimes[g_p] · sqrt(len_p / Δ)
    log mid at the period's end = log mid at its start + r_p

so period-to-period log returns are AR(1) with lag-1 autocorrelation φ = `ar_coef` and
standard deviation σ (the `annual_volatility` scaled to Δ). Inside a period the log mid
follows a Brownian bridge between those two levels, so the last tick of a period (a bar's
close) sits on the planted AR(1) path up to a vanishing wiggle. Trades print at the bid or
the ask with equal odds (bid-ask bounce), which lowers the measured autocorrelation by about
(spread/2)² / σ² — negligible at the default 1 bp spread and 20 % volatility.

Arrivals are a Poisson process (cumulated exponential gaps) on a microsecond clock, kept
strictly increasing. Everything is vectorised numpy; the only loop is over pieces of the
AR(1) recursion (a few per block).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from qraptor.data.synthetic.calendar import US_PER_SECOND
from qraptor.data.synthetic.config import SyntheticConfig

# Bad-tick codes: index into BAD_LABELS. 0 = a good tick.
BAD_LABELS = (None, "spike", "duplicate", "out_of_order", "nonpositive")
SPIKE, DUPLICATE, OUT_OF_ORDER, NONPOSITIVE = 1, 2, 3, 4
MAX_LATE_ROWS = 5  # an out-of-order tick prints 1..MAX_LATE_ROWS rows late
BLOCK_TICKS = 1 << 18  # expected ticks generated at once (bounds temporaries to ~100 MB)


@dataclass(frozen=True)
class Plan:
    """Values derived once from the config and used by every block."""

    period_us: int
    periods_per_block: int
    sigma: float  # std of one full period's log return in regime multiplier 1.0
    regimes: np.ndarray
    price_scale: float  # prices are rounded to 1 / price_scale
    size_lot_decimals: int

    @classmethod
    def from_config(cls, cfg: SyntheticConfig) -> Plan:
        period_s = cfg.signal_period_seconds
        start_min, end_min = cfg.session_minutes
        year_s = (end_min - start_min) * 60.0 * cfg.sessions_per_year
        ticks_per_period = max(1.0, cfg.ticks_per_second * period_s)
        # Six significant digits at the start price (100 -> 0.001, 1.1 -> 0.00001):
        # realistic quotes and compact CSV text.
        decimals = 5 - math.floor(math.log10(cfg.start_price))
        lot_decimals = 0 if cfg.mean_size >= 1 else 1 - math.floor(math.log10(cfg.mean_size))
        return cls(
            period_us=round(period_s * US_PER_SECOND),
            periods_per_block=max(1, int(BLOCK_TICKS // ticks_per_period)),
            sigma=cfg.annual_volatility * math.sqrt(period_s / year_s),
            regimes=np.asarray(cfg.regimes, dtype=np.float64),
            price_scale=10.0**decimals,
            size_lot_decimals=lot_decimals,
        )


@dataclass
class PriceState:
    """What carries from one block to the next: the AR(1) path and the regime."""

    log_mid: float
    last_return: float
    regime: int


@dataclass
class Block:
    """Ticks of one block in print order; `bad` holds codes into BAD_LABELS."""

    time_us: np.ndarray
    price: np.ndarray
    size: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bad: np.ndarray


def ar1_filter(innovations: np.ndarray, phi: float, previous: float) -> np.ndarray:
    """r_j = phi * r_{j-1} + u_j with r_{-1} = previous, vectorised.

    Uses r_j = phi^(j+1) (previous + sum_k u_k phi^-(k+1)) over pieces short enough that
    phi^-j stays finite; the partial sums grow in magnitude, so rounding stays relative.
    """
    if abs(phi) < 1e-12:  # phi^2 terms below double precision
        return innovations + phi * np.concatenate(([previous], innovations[:-1]))
    out = np.empty_like(innovations)
    step = max(1, int(200.0 / -math.log10(abs(phi)))) if abs(phi) < 1 else len(innovations)
    carry = previous
    for lo in range(0, len(innovations), step):
        piece = innovations[lo : lo + step]
        powers = phi ** np.arange(1, len(piece) + 1, dtype=np.float64)
        out[lo : lo + len(piece)] = powers * (carry + np.cumsum(piece / powers))
        carry = float(out[lo + len(piece) - 1])
    return out


def poisson_times(rng: np.random.Generator, rate: float, start_us: int, end_us: int) -> np.ndarray:
    """Arrival times (µs) of a Poisson process of `rate`/s on [start, end), strictly increasing."""
    span = (end_us - start_us) / US_PER_SECOND
    expected = rate * span
    gaps = rng.standard_exponential(int(expected + 8.0 * math.sqrt(expected) + 16.0))
    offsets = np.cumsum(gaps)
    while offsets[-1] * (1.0 / rate) < span:  # ~never: a 8-sigma shortfall
        more = np.cumsum(rng.standard_exponential(len(gaps))) + offsets[-1]
        offsets = np.concatenate((offsets, more))
    offsets = offsets[: np.searchsorted(offsets, span * rate)]
    times = start_us + (offsets * (US_PER_SECOND / rate)).astype(np.int64)
    # Two arrivals in the same microsecond: push the later one by 1 µs (keeps order strict).
    ramp = np.arange(len(times), dtype=np.int64)
    times = np.maximum.accumulate(times - ramp) + ramp
    return times[times < end_us]


def simulate_block(
    bounds_us: np.ndarray,
    state: PriceState,
    cfg: SyntheticConfig,
    plan: Plan,
    rng: np.random.Generator,
) -> tuple[Block, PriceState]:
    """Ticks of the signal periods between consecutive `bounds_us`, and the state after."""
    n_periods = len(bounds_us) - 1
    lengths_us = np.diff(bounds_us)
    regime = _regime_path(rng, state.regime, n_periods, cfg.regime_switch_prob, plan)
    sigma = plan.sigma * plan.regimes[regime] * np.sqrt(lengths_us / plan.period_us)
    phi = cfg.ar_coef
    shocks = rng.standard_normal(n_periods) * sigma * math.sqrt(1.0 - phi * phi)
    returns = ar1_filter(shocks, phi, state.last_return)
    levels = state.log_mid + np.cumsum(returns)
    new_state = PriceState(float(levels[-1]), float(returns[-1]), int(regime[-1]))

    times = poisson_times(rng, cfg.ticks_per_second, int(bounds_us[0]), int(bounds_us[-1]))
    first = np.searchsorted(times, bounds_us[:-1])
    counts = np.diff(np.append(first, len(times)))
    period = np.repeat(np.arange(n_periods), counts)
    frac = (times - bounds_us[:-1][period]) / lengths_us[period]
    bridge = _brownian_bridge(rng, frac, first, counts, period)
    wiggle = frac * returns[period] + sigma[period] * bridge  # log mid from period start
    mid = np.exp(levels - returns)[period] * _exp_small(wiggle)

    half = cfg.spread_bps * 1e-4 / 2.0
    tick = 1.0 / plan.price_scale
    bid = np.maximum(_round_price(mid * (1.0 - half), plan), tick)
    ask = np.maximum(_round_price(mid * (1.0 + half), plan), bid)
    price = np.where(_coin_flips(rng, len(times)), ask, bid)
    size = _sizes(rng, len(times), cfg.mean_size, plan.size_lot_decimals)
    block = Block(times, price, size, bid, ask, np.zeros(len(times), dtype=np.int8))
    return _plant_bad_ticks(block, cfg, plan, rng), new_state


def _regime_path(
    rng: np.random.Generator, current: int, n: int, switch_prob: float, plan: Plan
) -> np.ndarray:
    """Markov chain: each period leaves its regime with `switch_prob` for a random other."""
    n_regimes = len(plan.regimes)
    if n_regimes == 1 or switch_prob == 0.0:
        return np.full(n, current, dtype=np.int64)
    jumps = rng.integers(1, n_regimes, n) * (rng.random(n) < switch_prob)
    return (current + np.cumsum(jumps)) % n_regimes


def _brownian_bridge(
    rng: np.random.Generator,
    frac: np.ndarray,
    first: np.ndarray,
    counts: np.ndarray,
    period: np.ndarray,
) -> np.ndarray:
    """Standard Brownian bridge (0 at both ends of each period) at fractions `frac`."""
    if len(frac) == 0:
        return frac
    occupied = counts > 0
    starts = first[occupied]
    prev = np.concatenate(([0.0], frac[:-1]))
    prev[starts] = 0.0
    steps = rng.standard_normal(len(frac)) * np.sqrt(frac - prev)
    walk = np.cumsum(steps)
    offset = np.zeros(len(counts))
    offset[occupied] = walk[starts] - steps[starts]
    walk -= offset[period]
    last = first + counts - 1
    walk_end = np.zeros(len(counts))
    frac_end = np.zeros(len(counts))
    walk_end[occupied] = walk[last[occupied]]
    frac_end[occupied] = frac[last[occupied]]
    at_one = walk_end + rng.standard_normal(len(counts)) * np.sqrt(1.0 - frac_end)
    return walk - frac * at_one[period]


def _round_price(values: np.ndarray, plan: Plan) -> np.ndarray:
    # Divide by an exact power of ten so the result prints as a short decimal.
    if plan.price_scale >= 1.0:
        return np.rint(values * plan.price_scale) / plan.price_scale
    return np.rint(values * plan.price_scale) * round(1.0 / plan.price_scale)


def _sizes(rng: np.random.Generator, n: int, mean: float, lot_decimals: int) -> np.ndarray:
    """Geometric numbers of lots (whole units, or 10^-k for mean sizes below 1), mean `mean`.

    floor(E / -log(1 - p)) + 1 with E exponential is geometric(p), at a third of the cost
    of numpy's geometric sampler.
    """
    lots_per_unit = 10.0**lot_decimals
    p = min(1.0, 1.0 / (mean * lots_per_unit))
    if p >= 1.0:
        return np.full(n, 1.0 / lots_per_unit)
    lots = np.floor(rng.standard_exponential(n) * (-1.0 / math.log1p(-p))) + 1.0
    return lots / lots_per_unit


def _exp_small(x: np.ndarray) -> np.ndarray:
    """exp(x), by a cubic Taylor polynomial when every |x| < 0.01 (relative error < 5e-10,
    far below the 1e-6 price rounding) since np.exp costs ~10x more."""
    if len(x) == 0 or np.abs(x).max() >= 0.01:
        return np.exp(x)
    return 1.0 + x * (1.0 + x * (0.5 + x * (1.0 / 6.0)))


def _plant_bad_ticks(
    block: Block, cfg: SyntheticConfig, plan: Plan, rng: np.random.Generator
) -> Block:
    """Corrupt prices, then delay rows, then duplicate rows, recording codes in `bad`.

    Only good rows are corrupted or delayed, so each planted row carries exactly one
    defect (a duplicate copies its original, defect and all). Work is proportional to the
    number of hits, not to the block.
    """
    bad_cfg = cfg.bad_ticks
    n = len(block.price)
    if n == 0:
        return block
    hit = _bernoulli_hits(rng, n, bad_cfg.nonpositive_rate)
    zero = _coin_flips(rng, len(hit))
    block.price[hit] = np.where(zero, 0.0, -block.price[hit])
    block.bad[hit] = NONPOSITIVE

    hit = _bernoulli_hits(rng, n, bad_cfg.spike_rate)
    hit = hit[block.bad[hit] == 0]
    sign = np.where(_coin_flips(rng, len(hit)), -1.0, 1.0)
    block.price[hit] = _round_price(block.price[hit] * (1.0 + sign * bad_cfg.spike_size), plan)
    block.bad[hit] = SPIKE

    hit = _bernoulli_hits(rng, n, bad_cfg.out_of_order_rate)
    hit = hit[block.bad[hit] == 0]
    if len(hit):
        key = np.arange(n, dtype=np.float64)
        key[hit] += rng.integers(1, MAX_LATE_ROWS + 1, len(hit)) + 0.5
        order = np.argsort(key, kind="stable")
        moved = np.flatnonzero(order != np.arange(n))
        for field in fields(Block):
            column = getattr(block, field.name)
            column[moved] = column[order[moved]]
        # Only a delayed row can end up earlier than the row printed before it (a delayed
        # row may also keep its index, pushed back by one delayed ahead of it).
        is_late = np.zeros(n, dtype=bool)
        is_late[hit] = True
        late_at = np.flatnonzero(is_late[order])
        late_at = late_at[late_at > 0]
        block.bad[late_at[block.time_us[late_at] < block.time_us[late_at - 1]]] = OUT_OF_ORDER

    hit = _bernoulli_hits(rng, n, bad_cfg.duplicate_rate)
    if len(hit):
        copies = {f.name: getattr(block, f.name)[hit] for f in fields(Block)}
        copies["bad"][:] = DUPLICATE
        block = Block(
            **{
                name: np.insert(getattr(block, name), hit + 1, copy)
                for name, copy in copies.items()
            }
        )
    return block


def _bernoulli_hits(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Sorted positions in [0, n) each hit independently with probability `rate`.

    Drawn as geometric gaps between hits, so the cost follows the hits, not n.
    """
    if rate <= 0.0:
        return np.empty(0, dtype=np.int64)
    if rate >= 0.05:
        return np.flatnonzero(rng.random(n) < rate)
    expected = n * rate
    positions = np.cumsum(rng.geometric(rate, int(expected + 8.0 * math.sqrt(expected) + 16)))
    while positions[-1] <= n:  # ~never: an 8-sigma shortfall
        more = np.cumsum(rng.geometric(rate, len(positions))) + positions[-1]
        positions = np.concatenate((positions, more))
    return positions[: np.searchsorted(positions, n, side="right")] - 1


def _coin_flips(rng: np.random.Generator, n: int) -> np.ndarray:
    """n fair booleans from random bytes (8 per byte: far cheaper than n uniforms)."""
    return np.unpackbits(np.frombuffer(rng.bytes((n + 7) // 8), dtype=np.uint8))[:n].astype(bool)
