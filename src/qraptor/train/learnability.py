"""Learnability: a session trained on a planted dataset, judged against the oracle rule.

A Sharpe ratio on a planted market says little alone: how much there was to earn depends on
the planted edge, the bars and the costs. The oracle (`qraptor.evaluation.planted.oracle`)
knows the planted AR coefficient and trades it as well as a one-bar forecast allows at the
session's own costs, so "the agent's test Sharpe / the oracle's test Sharpe" is the share of
the available edge the agent learned. On a random walk there is nothing to earn: there the
questions are whether the best of several sessions still looks like an edge once deflated
for the number of sessions tried (DSR) and whether picking it would be overfitting (PBO).
Both come from `significance` over runs on the same span.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qraptor.env.market import load_market
from qraptor.evaluation.metrics import bars_per_year, compute_metrics, simple_returns
from qraptor.evaluation.planted import oracle
from qraptor.evaluation.statistics import (
    BacktestOverfitting,
    SweepSignificance,
    probability_of_backtest_overfitting,
    return_moments,
    sweep_significance,
)
from qraptor.train.config import TrainConfig, resolve_dataset
from qraptor.train.trainer import train_session


@dataclass(frozen=True)
class PlantedRun:
    """One session's figures on one split of a planted dataset, next to the oracle's."""

    seed: int
    split: str
    agent: dict[str, float]  # compute_metrics of the agent's backtest
    oracle: dict[str, float]  # ... of the oracle's, same span, same costs, same annualisation
    returns: np.ndarray  # the agent's per-bar simple returns on the split
    timesteps: int
    learn_seconds: float
    wall_seconds: float  # the whole session: training, evaluation, the oracle

    @property
    def fraction_of_oracle(self) -> float:
        """Agent Sharpe / oracle Sharpe; NaN when the oracle earned nothing (a random walk)."""
        best = self.oracle["sharpe"]
        return self.agent["sharpe"] / best if best > 0 else math.nan


def planted_session(
    cfg: TrainConfig, out_dir: Path, ar_coef: float, split: str = "test"
) -> PlantedRun:
    """Train `cfg`'s session into `out_dir`, then backtest the oracle of `ar_coef` on `split`
    (one of the session's evaluation splits) with the session's env and annualisation."""
    if split not in cfg.session.eval.splits:
        raise ValueError(
            f"split {split!r} is not among session.eval.splits {cfg.session.eval.splits}"
        )
    began = time.perf_counter()
    result = train_session(cfg, out_dir)
    dataset = resolve_dataset(cfg.session.dataset)
    s = cfg.session
    per_year = bars_per_year(
        load_market(dataset, s.train_split, s.fold, cfg.env.features).timestamps
    )
    market = load_market(dataset, split, s.fold, cfg.env.features)
    backtest = oracle(
        market, cfg.instrument_env, ar_coef, liquidate=s.eval.liquidate
    )  # as the agent
    oracle_metrics = compute_metrics(backtest.curve, per_year)
    equity = pd.read_csv(result.equity[split])["equity"].to_numpy(dtype=np.float64)
    return PlantedRun(
        seed=s.seed,
        split=split,
        agent=result.metrics[split],
        oracle=oracle_metrics,
        returns=simple_returns(equity),
        timesteps=result.timesteps,
        learn_seconds=result.seconds,
        wall_seconds=time.perf_counter() - began,
    )


def significance(
    runs: Sequence[PlantedRun], n_blocks: int = 16
) -> tuple[SweepSignificance, BacktestOverfitting]:
    """DSR of the best run (by per-bar Sharpe) with every run counted as a trial, and the PBO
    of the T x runs matrix of per-bar returns. The runs must cover the same number of bars
    (the same span, or spans of the same calendar)."""
    lengths = {len(r.returns) for r in runs}
    if len(lengths) != 1:
        raise ValueError(f"runs cover different numbers of bars: {sorted(lengths)}")
    moments = [return_moments(r.returns) for r in runs]
    best = max(moments, key=lambda m: m.sharpe)
    dsr = sweep_significance(best, [m.sharpe for m in moments], n_trials=len(runs))
    pbo = probability_of_backtest_overfitting(
        np.column_stack([r.returns for r in runs]), n_blocks=n_blocks
    )
    return dsr, pbo
