"""Stitching out-of-sample results across folds, and scoring a trial across seeds.

A fold's session is evaluated on that fold's test window; its per-bar returns (agent and
baselines, net of costs) are the out-of-sample record of that window. The windows are
disjoint and in time order, so concatenating one seed's windows gives that seed's
out-of-sample return series over the whole walk-forward region, and compounding it gives
the stitched equity (each window starts from the equity the last one ended with). The
first `env.window - 1` bars of each test window only fill the observation window, and the
first decision earns its return a bar later, so a window of n bars yields n - env.window
returns.

The score of a trial is computed per seed on its stitched series (the per-bar Sharpe,
mean / std, not annualised), then across seeds: the median, or a lower confidence bound
of the mean. Never the best seed: that is what selection on noise looks like.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from qraptor.evaluation.statistics import mean_interval, return_moments


def stitch(per_fold: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One frame of per-bar returns over folds in time order (refuses overlapping windows)."""
    frames = [f for f in per_fold if len(f)]
    if not frames:
        return pd.DataFrame(index=pd.DatetimeIndex([], name="timestamp", tz="UTC"))
    stitched = pd.concat(frames).sort_index()
    if stitched.index.has_duplicates:
        raise ValueError("fold test windows overlap: a bar's return would count twice")
    return stitched


def equity_of(returns: pd.Series | pd.DataFrame, start: float = 1.0) -> pd.Series | pd.DataFrame:
    """The equity compounded from per-bar returns (NaN bars leave it unchanged)."""
    return start * (1.0 + returns.fillna(0.0)).cumprod()


def bar_sharpe(returns: pd.Series | np.ndarray) -> float:
    """Per-bar Sharpe ratio (mean / std, ddof=1) of the defined returns; NaN under 2 bars."""
    values = np.asarray(returns, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return math.nan
    return return_moments(values).sharpe


def seed_score(seed_sharpes: Sequence[float], score: str, confidence: float) -> float:
    """The trial's score across seeds: median, or the one-sided `confidence` lower bound of
    the mean (t with k - 1 degrees of freedom); NaN when a seed has no score."""
    values = np.asarray(seed_sharpes, dtype=np.float64)
    if len(values) == 0 or not np.isfinite(values).all():
        return math.nan
    if score == "median":
        return float(np.median(values))
    if score == "lcb":
        # the one-sided bound at `confidence` is the low end of the two-sided interval at
        # 2 * confidence - 1 (NaN for a single seed)
        return mean_interval(values, confidence=2.0 * confidence - 1.0).low
    raise ValueError(f"unknown score '{score}'")


def seed_average(per_seed: Mapping[int, pd.Series]) -> pd.Series:
    """The per-bar mean of the seeds' returns: one equal-weight portfolio of the seeds,
    the trial's single return series (PBO's column, DSR's and MinTRL's input)."""
    if not per_seed:
        return pd.Series(dtype=np.float64)
    return pd.concat(per_seed, axis=1).mean(axis=1)
