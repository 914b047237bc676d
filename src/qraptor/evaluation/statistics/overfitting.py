"""The probability of backtest overfitting (PBO) of a search, by combinatorially symmetric
cross-validation (CSCV; Bailey, Borwein, López de Prado & Zhu, "The Probability of Backtest
Overfitting", Journal of Computational Finance 2017, working paper 2015).

A search tried N configurations (trials) over the same T bars. Selecting the best of them
in sample and trusting its figure is overfitting when the selected trial does no better
than the others out of sample. CSCV measures that without any new data:

1. cut the T x N matrix of per-bar returns into S blocks of consecutive bars (S even);
2. for every one of the C(S, S/2) ways to pick half the blocks as "in sample" (IS), the
   other half being "out of sample" (OOS), find the trial n* with the best IS performance
   (per-bar Sharpe ratio here) and the relative rank ω of its OOS performance among all
   trials' OOS performances (ω = rank / (N + 1), ranks 1..N from the worst, ties averaged);
3. the logit λ = ln(ω / (1 − ω)) is negative when n* is below the OOS median;
   PBO = P(λ ≤ 0) over the combinations.

Skill-less trials give PBO ≈ 1/2 or more (≥ 2/3 with N = 3: the IS best is equally likely to
take any OOS rank); one trial with a real edge among noise is picked IS and stays on top
OOS, so PBO ≈ 0. The same combinations also give the performance degradation (the
least-squares line of the selected trial's OOS Sharpe on its IS Sharpe: a slope near or
below zero means IS rank says nothing about OOS) and P(OOS loss), the share of
combinations in which the selected trial's OOS Sharpe is negative.

Blocks are consecutive bars (the returns keep their serial dependence inside a block);
when S does not divide T the first T mod S blocks get one more bar (numpy.array_split).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

COMBINATIONS_PER_BATCH = 2048  # bounds memory: batch x trials floats per moment


@dataclass(frozen=True)
class BacktestOverfitting:
    """What CSCV says about a search (see the module's docstring); performances are the
    per-bar Sharpe ratios of the IS-best trial, one entry per combination."""

    pbo: float
    logits: np.ndarray
    degradation_slope: float
    degradation_intercept: float
    prob_oos_loss: float
    n_trials: int
    n_blocks: int
    n_combinations: int
    is_performance: np.ndarray
    oos_performance: np.ndarray

    def to_dict(self) -> dict[str, float | int]:
        """The scalar figures, JSON-ready (the arrays stay in memory)."""
        return {
            "pbo": self.pbo,
            "degradation_slope": self.degradation_slope,
            "degradation_intercept": self.degradation_intercept,
            "prob_oos_loss": self.prob_oos_loss,
            "logit_median": float(np.median(self.logits)),
            "n_trials": self.n_trials,
            "n_blocks": self.n_blocks,
            "n_combinations": self.n_combinations,
        }


def _matrix(returns: pd.DataFrame | np.ndarray, n_blocks: int) -> np.ndarray:
    m = np.asarray(returns.to_numpy() if isinstance(returns, pd.DataFrame) else returns, float)
    if m.ndim != 2:
        raise ValueError(f"returns must be a T x N matrix (bars x trials), got shape {m.shape}")
    if m.shape[1] < 2:
        raise ValueError(f"PBO compares trials: it needs at least 2 columns, got {m.shape[1]}")
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"n_blocks must be an even number >= 2, got {n_blocks}")
    if m.shape[0] < 2 * n_blocks:
        raise ValueError(
            f"{m.shape[0]} bars are too few for {n_blocks} blocks (at least 2 bars a block)"
        )
    if not np.isfinite(m).all():
        rows = np.flatnonzero(~np.isfinite(m).all(axis=1))
        raise ValueError(
            f"returns hold NaN or inf at {len(rows)} bars (first at row {rows[0]}): align the "
            "trials on common bars first (a failed trial's missing bars are not zero returns)"
        )
    return m


def _sharpe(count: np.ndarray, total: np.ndarray, squares: np.ndarray) -> np.ndarray:
    """Per-bar Sharpe (ddof=1) from sums; 0 where returns do not vary (as return_moments)."""
    mean = total / count
    variance = (squares - total * mean) / (count - 1)
    std = np.sqrt(np.clip(variance, 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1e-300), mean / std, 0.0)
    return sharpe


def probability_of_backtest_overfitting(
    returns: pd.DataFrame | np.ndarray, n_blocks: int = 16
) -> BacktestOverfitting:
    """PBO of choosing the best of `returns`' columns (trials) by per-bar Sharpe ratio.

    `returns`: T x N per-bar returns, one column per trial, rows the same bars for every
    trial (no NaN). `n_blocks` (S, even): C(16, 8) = 12,870 combinations by default.
    """
    m = _matrix(returns, n_blocks)
    n_trials = m.shape[1]
    blocks = np.array_split(np.arange(m.shape[0]), n_blocks)
    count = np.array([len(b) for b in blocks], dtype=np.float64)
    total = np.stack([m[b].sum(axis=0) for b in blocks])  # S x N
    squares = np.stack([(m[b] ** 2).sum(axis=0) for b in blocks])
    chosen = list(itertools.combinations(range(n_blocks), n_blocks // 2))
    is_best, oos_best, logits = [], [], []
    for start in range(0, len(chosen), COMBINATIONS_PER_BATCH):
        mask = np.zeros((len(chosen[start : start + COMBINATIONS_PER_BATCH]), n_blocks))
        for row, combination in enumerate(chosen[start : start + COMBINATIONS_PER_BATCH]):
            mask[row, list(combination)] = 1.0
        outside = 1.0 - mask
        inside_sharpe = _sharpe((mask @ count)[:, None], mask @ total, mask @ squares)
        outside_sharpe = _sharpe((outside @ count)[:, None], outside @ total, outside @ squares)
        best = np.argmax(inside_sharpe, axis=1)  # ties: the first trial
        rows = np.arange(len(best))
        ranks = stats.rankdata(outside_sharpe, axis=1)  # 1 = worst, ties averaged
        omega = ranks[rows, best] / (n_trials + 1.0)
        logits.append(np.log(omega / (1.0 - omega)))
        is_best.append(inside_sharpe[rows, best])
        oos_best.append(outside_sharpe[rows, best])
    logit = np.concatenate(logits)
    inside, outside = np.concatenate(is_best), np.concatenate(oos_best)
    slope, intercept = _line(inside, outside)
    return BacktestOverfitting(
        pbo=float(np.mean(logit <= 0.0)),
        logits=logit,
        degradation_slope=slope,
        degradation_intercept=intercept,
        prob_oos_loss=float(np.mean(outside < 0.0)),
        n_trials=n_trials,
        n_blocks=n_blocks,
        n_combinations=len(logit),
        is_performance=inside,
        oos_performance=outside,
    )


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept of y on x (slope NaN when x does not vary)."""
    if np.ptp(x) == 0:
        return math.nan, float(np.mean(y))
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)
