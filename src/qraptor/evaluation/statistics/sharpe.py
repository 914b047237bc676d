"""How sure one Sharpe ratio is, alone and as the best of a search (Bailey & López de Prado,
"The Sharpe Ratio Efficient Frontier" 2012 and "The Deflated Sharpe Ratio" 2014).

Everything here is per bar, not annualised: SR = mean(r) / std(r) of the bar returns,
T = number of returns, γ3 the skewness and γ4 the Pearson kurtosis (3 for normal returns)
of those returns.

    PSR(SR*) = Φ( (SR − SR*) · √(T − 1) / √(1 − γ3·SR + (γ4 − 1)/4 · SR²) )
    MinTRL   = 1 + (1 − γ3·SR + (γ4 − 1)/4 · SR²) · ( Φ⁻¹(confidence) / (SR − SR*) )²
    SR0      = √V[SR_n] · ( (1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)) )   (γ: Euler's)
    DSR      = PSR(SR0)

MinTRL is the T at which PSR(SR*) reaches `confidence` for the same SR, γ3 and γ4: the
length of record (in bars) a result needs before it says anything, and so, after a backtest,
how many bars of live or paper trading are still needed to confirm it.

N counts every trial of the sweep (queued, running and failed ones too: each was a draw the
researcher could have kept), while V[SR_n] is the variance (ddof=1) of the Sharpe ratios of
the trials that finished. With N = 1 nothing was selected: SR0 = 0 and DSR = PSR(0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

EULER_GAMMA = float(np.euler_gamma)


@dataclass(frozen=True)
class ReturnMoments:
    """Per-bar Sharpe ratio and the shape of the bar returns it came from."""

    sharpe: float  # mean / std (ddof=1), not annualised
    skewness: float  # γ3 (population moment)
    kurtosis: float  # γ4, Pearson: 3 for normal returns
    bars: int  # T, the number of returns


def return_moments(returns: Sequence[float] | np.ndarray) -> ReturnMoments:
    """Moments of bar returns; a series that never varies has Sharpe 0 and normal shape."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    std = float(r.std(ddof=1)) if len(r) > 1 else 0.0
    # Constant returns leave rounding noise in std (~1e-18): that is no variation either.
    if not math.isfinite(std) or std <= 1e-9 * abs(float(r.mean())) or std == 0:
        return ReturnMoments(0.0, 0.0, 3.0, len(r))
    return ReturnMoments(
        sharpe=float(r.mean() / std),
        skewness=float(stats.skew(r, bias=True)),
        kurtosis=float(stats.kurtosis(r, fisher=False, bias=True)),
        bars=len(r),
    )


def equity_moments(equity: Sequence[float] | np.ndarray) -> ReturnMoments:
    """`return_moments` of the simple returns of an equity curve (as metrics.py defines)."""
    e = np.asarray(equity, dtype=np.float64)
    return return_moments(e[1:] / e[:-1] - 1.0)


def sharpe_ratio_std(sharpe: float, bars: int, skewness: float, kurtosis: float) -> float:
    """Standard error of a per-bar Sharpe estimate under non-normal returns (NaN if T < 2)."""
    if bars < 2:
        return math.nan
    variance = _variance_factor(sharpe, skewness, kurtosis)
    return math.sqrt(variance / (bars - 1)) if variance > 0 else math.nan


def probabilistic_sharpe_ratio(
    sharpe: float, bars: int, skewness: float, kurtosis: float, benchmark: float = 0.0
) -> float:
    """PSR: probability that the true per-bar Sharpe exceeds `benchmark` (per bar)."""
    se = sharpe_ratio_std(sharpe, bars, skewness, kurtosis)
    if not math.isfinite(se):
        return math.nan
    return float(stats.norm.cdf((sharpe - benchmark) / se))


def _variance_factor(sharpe: float, skewness: float, kurtosis: float) -> float:
    return 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2


def minimum_track_record_length(
    returns: Sequence[float] | np.ndarray, target_sharpe: float = 0.0, confidence: float = 0.95
) -> float:
    """MinTRL: bars of record at which these returns' Sharpe would be above `target_sharpe`
    (per bar) with probability `confidence`, their skewness and kurtosis kept.

    `math.inf` when the observed Sharpe is not above the target (no length of record makes
    a Sharpe at or below the target significant above it).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    m = return_moments(returns)
    if m.bars < 2 or not m.sharpe > target_sharpe:
        return math.inf
    variance = _variance_factor(m.sharpe, m.skewness, m.kurtosis)
    if variance <= 0:
        return math.inf
    z = float(stats.norm.ppf(confidence))
    return float(1.0 + variance * (z / (m.sharpe - target_sharpe)) ** 2)


def expected_max_sharpe(n_trials: int, trials_sharpe_variance: float) -> float:
    """SR0: the Sharpe ratio the best of `n_trials` skill-less trials is expected to show."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if n_trials == 1:
        return 0.0
    z = (1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / n_trials) + EULER_GAMMA * stats.norm.ppf(
        1.0 - 1.0 / (n_trials * math.e)
    )
    return float(math.sqrt(max(trials_sharpe_variance, 0.0)) * z)


def deflated_sharpe_ratio(
    sharpe: float,
    bars: int,
    skewness: float,
    kurtosis: float,
    n_trials: int,
    trials_sharpe_variance: float,
) -> float:
    """DSR: PSR of the selected Sharpe against SR0 of `n_trials` (all per bar)."""
    benchmark = expected_max_sharpe(n_trials, trials_sharpe_variance)
    return probabilistic_sharpe_ratio(sharpe, bars, skewness, kurtosis, benchmark)


@dataclass(frozen=True)
class SweepSignificance:
    """How much the best trial's Sharpe ratio survives the search that found it."""

    n_trials: int  # every trial, whatever its status
    n_finished: int  # trials with a Sharpe ratio (V[SR_n]'s sample)
    sharpe_variance: float  # V[SR_n] of the per-bar Sharpe ratios (ddof=1); NaN if < 2
    best: ReturnMoments
    psr: float  # PSR(0) of the best
    expected_max_sharpe: float  # SR0 (per bar)
    dsr: float  # PSR(SR0); NaN when N > 1 but fewer than 2 trials finished


def sweep_significance(
    best: ReturnMoments, trial_sharpes: Sequence[float], n_trials: int
) -> SweepSignificance:
    """PSR(0), SR0 and DSR of the `best` trial of a sweep.

    `trial_sharpes`: per-bar Sharpe ratios of the finished trials (the best included);
    `n_trials`: how many trials the sweep ran or queued, at least as many.
    """
    finished = np.asarray([s for s in trial_sharpes if math.isfinite(s)], dtype=np.float64)
    if n_trials < max(len(finished), 1):
        raise ValueError(f"n_trials ({n_trials}) is below the {len(finished)} finished trials")
    variance = float(finished.var(ddof=1)) if len(finished) > 1 else math.nan
    psr = probabilistic_sharpe_ratio(best.sharpe, best.bars, best.skewness, best.kurtosis)
    if n_trials == 1:
        sr0, dsr = 0.0, psr
    elif math.isnan(variance):
        sr0, dsr = math.nan, math.nan
    else:
        sr0 = expected_max_sharpe(n_trials, variance)
        dsr = probabilistic_sharpe_ratio(
            best.sharpe, best.bars, best.skewness, best.kurtosis, benchmark=sr0
        )
    return SweepSignificance(n_trials, len(finished), variance, best, psr, sr0, dsr)
