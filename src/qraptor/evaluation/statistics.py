"""Statistics across runs: how sure we can be about one agent, and about the best of a sweep.

Several seeds or folds of ONE configuration (rliable: Agarwal et al. 2021, "Deep RL at the
edge of the statistical precipice"):

* mean (of the per-stratum means) and IQM, the interquartile mean: the mean of the middle
  50 % of all runs (scipy's 25 % trimmed mean), robust to one lucky or broken seed;
* percentile confidence intervals from a *stratified* bootstrap: runs are resampled with
  replacement within each stratum (a walk-forward fold, a split, a market), never across,
  so an interval answers "other seeds, the same folds";
* P(X > Y), the probability that the agent beats a baseline: each run is compared with the
  baseline on the same span (paired; a tie counts one half), averaged over strata, with the
  same stratified bootstrap for its interval.

The best of MANY configurations (Bailey & López de Prado, "The Sharpe Ratio Efficient
Frontier" 2012 and "The Deflated Sharpe Ratio" 2014). Everything here is per bar, not
annualised: SR = mean(r) / std(r) of the bar returns, T = number of returns, γ3 the
skewness and γ4 the Pearson kurtosis (3 for normal returns) of those returns.

    PSR(SR*) = Φ( (SR − SR*) · √(T − 1) / √(1 − γ3·SR + (γ4 − 1)/4 · SR²) )
    SR0      = √V[SR_n] · ( (1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)) )   (γ: Euler's)
    DSR      = PSR(SR0)

N counts every trial of the sweep (queued, running and failed ones too: each was a draw the
researcher could have kept), while V[SR_n] is the variance (ddof=1) of the Sharpe ratios of
the trials that finished. With N = 1 nothing was selected: SR0 = 0 and DSR = PSR(0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

EULER_GAMMA = float(np.euler_gamma)
TRIM = 0.25  # IQM: a quarter cut from each end

# A metric's runs: one array (one stratum), a list of arrays, {stratum: values}, or a
# [runs, strata] matrix (rliable's score matrix, one column per task).
Strata = Mapping[Any, Sequence[float] | np.ndarray] | Sequence[Any] | np.ndarray


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float

    def __str__(self) -> str:
        return f"{_g(self.estimate)} [{_g(self.low)}, {_g(self.high)}]"


@dataclass(frozen=True)
class RunSummary:
    """One metric over the runs (seeds x strata) of one configuration."""

    runs: int
    strata: int
    mean: Interval  # mean of the per-stratum means
    iqm: Interval  # interquartile mean of all runs
    std: float  # spread of the runs (ddof=1; 0 for one run)
    low: float
    high: float


def _stratum_items(values: Strata) -> dict[Any, np.ndarray]:
    """Stratum -> its runs, as float arrays (keys are positions for sequences)."""
    if isinstance(values, Mapping):
        items = dict(values)
    elif isinstance(values, np.ndarray) and values.ndim == 2:  # rliable's [runs, tasks]
        items = dict(enumerate(values.T))
    elif (isinstance(values, np.ndarray) and values.ndim <= 1) or (
        isinstance(values, Sequence) and all(np.ndim(v) == 0 for v in values)
    ):
        items = {0: values}
    else:
        items = dict(enumerate(values))
    return {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in items.items()}


def as_strata(values: Strata) -> list[np.ndarray]:
    """The runs of each stratum as float arrays, non-finite values dropped, empty strata too.

    A flat sequence of numbers is one stratum; a mapping or a sequence of sequences is one
    stratum per item.
    """
    strata = [a[np.isfinite(a)] for a in _stratum_items(values).values()]
    return [a for a in strata if len(a)]


def interquartile_mean(values: Strata) -> float:
    """Mean of the middle 50 % of all runs (scipy.stats.trim_mean, 25 % cut each side)."""
    pooled = np.concatenate(as_strata(values) or [np.zeros(0)])
    return float(stats.trim_mean(pooled, TRIM)) if len(pooled) else math.nan


def stratified_mean(values: Strata) -> float:
    """Mean of the per-stratum means (the plain mean when strata are equally large)."""
    strata = as_strata(values)
    return float(np.mean([s.mean() for s in strata])) if strata else math.nan


def _bootstrap_mean(samples: list[np.ndarray]) -> np.ndarray:
    return np.mean([s.mean(axis=1) for s in samples], axis=0)


def _bootstrap_iqm(samples: list[np.ndarray]) -> np.ndarray:
    return stats.trim_mean(np.concatenate(samples, axis=1), TRIM, axis=1)


STATISTICS: dict[str, tuple[Callable[[Strata], float], Callable[[list[np.ndarray]], np.ndarray]]]
STATISTICS = {
    "mean": (stratified_mean, _bootstrap_mean),
    "iqm": (interquartile_mean, _bootstrap_iqm),
}


def _resample(strata: list[np.ndarray], reps: int, rng: np.random.Generator) -> list[np.ndarray]:
    """[reps, n_s] resamples of each stratum, drawn with replacement within the stratum."""
    return [s[rng.integers(0, len(s), size=(reps, len(s)))] for s in strata]


def _percentiles(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(replicates, [tail, 1.0 - tail])
    return float(low), float(high)


def _check(reps: int, confidence: float) -> None:
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def bootstrap_ci(
    values: Strata, statistic: str, *, reps: int, confidence: float, seed: int
) -> Interval:
    """`statistic` (mean | iqm) of the runs with its stratified-bootstrap percentile CI."""
    _check(reps, confidence)
    point, replicate = STATISTICS[statistic]
    strata = as_strata(values)
    if not strata:
        return Interval(math.nan, math.nan, math.nan, confidence)
    samples = _resample(strata, reps, np.random.default_rng(seed))
    low, high = _percentiles(replicate(samples), confidence)
    return Interval(point(strata), low, high, confidence)


def summarize_runs(values: Strata, *, reps: int, confidence: float, seed: int) -> RunSummary:
    """Mean and IQM with stratified-bootstrap CIs, spread and range of one metric's runs."""
    strata = as_strata(values)
    pooled = np.concatenate(strata) if strata else np.zeros(0)
    return RunSummary(
        runs=len(pooled),
        strata=len(strata),
        mean=bootstrap_ci(strata, "mean", reps=reps, confidence=confidence, seed=seed),
        iqm=bootstrap_ci(strata, "iqm", reps=reps, confidence=confidence, seed=seed),
        std=float(pooled.std(ddof=1)) if len(pooled) > 1 else 0.0,
        low=float(pooled.min()) if len(pooled) else math.nan,
        high=float(pooled.max()) if len(pooled) else math.nan,
    )


def probability_of_improvement(
    agent: Strata, baseline: Strata, *, reps: int, confidence: float, seed: int
) -> Interval:
    """P(agent > baseline) over paired runs (ties count 1/2), averaged over strata, with a
    stratified-bootstrap CI that resamples pairs within each stratum.

    `agent` and `baseline` have the same strata; a baseline stratum holds one value per
    agent run (a per-seed baseline such as the random policy) or a single value (a
    deterministic baseline such as buy-and-hold on that span), compared with every run.
    """
    _check(reps, confidence)
    agent_strata, baseline_strata = _stratum_items(agent), _stratum_items(baseline)
    if set(agent_strata) != set(baseline_strata):
        raise ValueError("agent and baseline runs must come in the same strata")
    wins = []
    for stratum, x in agent_strata.items():
        y = baseline_strata[stratum]
        if len(y) == 1:
            y = np.full(len(x), y[0])
        if len(x) != len(y):
            raise ValueError(f"a stratum pairs {len(x)} agent runs with {len(y)} baseline runs")
        wins.append((x > y) + 0.5 * (x == y))
    wins = [w for w in wins if len(w)]
    if not wins:
        return Interval(math.nan, math.nan, math.nan, confidence)
    samples = _resample(wins, reps, np.random.default_rng(seed))
    low, high = _percentiles(_bootstrap_mean(samples), confidence)
    return Interval(float(np.mean([w.mean() for w in wins])), low, high, confidence)


# -- the best of a sweep ----------------------------------------------------------------


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
    variance = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    return math.sqrt(variance / (bars - 1)) if variance > 0 else math.nan


def probabilistic_sharpe_ratio(
    sharpe: float, bars: int, skewness: float, kurtosis: float, benchmark: float = 0.0
) -> float:
    """PSR: probability that the true per-bar Sharpe exceeds `benchmark` (per bar)."""
    se = sharpe_ratio_std(sharpe, bars, skewness, kurtosis)
    if not math.isfinite(se):
        return math.nan
    return float(stats.norm.cdf((sharpe - benchmark) / se))


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


def _g(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.4g}"
