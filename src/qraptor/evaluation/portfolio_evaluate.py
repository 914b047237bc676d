"""Evaluate a trained portfolio policy on one split: its backtest next to the portfolio
baselines (qraptor.evaluation.portfolio), the same costs, fills and bars.

What a session's report needs for one split, in the shape of the single instrument's
(evaluate.py), so the summary, MLflow, the store, studies and `compare` read both alike:
the agent's metrics (`portfolio_metrics`: the metrics of metrics.METRIC_NAMES, with a
portfolio's meaning where a single position's does not apply), each baseline's, the
verdict against 1/N rebalanced (`PORTFOLIO_BENCHMARK`), and what users ask of a weight
policy: the diagnostics of every policy (turnover, HHI, entropy, bounds, the log return
split into market and costs) and whether the agent can be told apart from 1/N and from
buy-and-hold (`versus`). Files, in the split's folder::

    equity.csv            the agent, one row per bar from the first decision
    weights.csv           its weights after each bar (cash first)
    trades.csv            the bars it traded at: traded notional per instrument (+ buys)
    baselines_equity.csv  timestamp + one equity column per baseline
    metrics.json          agent, baselines, verdict, diagnostics, versus
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qraptor.core import layout
from qraptor.core.atomic import atomic_path, write_json_atomic
from qraptor.core.log import get_logger
from qraptor.core.numbers import json_number, json_safe
from qraptor.env.portfolio.config import PortfolioEnvConfig
from qraptor.env.portfolio.panel import Panel
from qraptor.evaluation.baseline_names import PORTFOLIO_BENCHMARK
from qraptor.evaluation.evaluate import evaluation_summary
from qraptor.evaluation.metrics import in_order, return_metrics
from qraptor.evaluation.portfolio import (
    PortfolioBacktest,
    baselines,
    diagnostics,
    index_holding,
    model_rollout,
    rollout,
    versus,
)
from qraptor.evaluation.verdict import Verdict, judge_equity

log = get_logger(__name__)
INDEX = "index"
OPTIMISED = ("min_variance", "max_sharpe")


@dataclasses.dataclass
class PortfolioEvaluation:
    split: str
    agent: PortfolioBacktest
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    baseline_curves: pd.DataFrame  # timestamp + one equity column per baseline
    verdict: Verdict | None
    diagnostics: dict[str, dict[str, Any]]  # policy -> diagnostics()
    versus: list[dict[str, Any]]  # the agent against 1/N and buy-and-hold
    random_sharpes: list[float] = dataclasses.field(default_factory=list)  # no random policy

    def summary(self) -> dict[str, Any]:
        return {
            **evaluation_summary(self.metrics, self.baselines, self.random_sharpes, self.verdict),
            "diagnostics": {name: json_safe(d) for name, d in self.diagnostics.items()},
            "versus": [_json_values(v) for v in self.versus],
        }


def portfolio_metrics(
    backtest: PortfolioBacktest, periods_per_year: float, min_annualised_days: float = 0.0
) -> dict[str, float]:
    """metrics.METRIC_NAMES of a portfolio backtest. The equity curve's metrics are the
    single instrument's (metrics.return_metrics); the trading ones mean, for weights:
    turnover = traded notional / mean equity; exposure = the mean gross weight in the
    instruments; time_in_market = the share of steps holding any; hit_rate = the share of
    the steps held into that gained; n_trades = instrument trades; avg_holding_bars is
    blank (a portfolio's positions have no single entry and exit)."""
    curve = backtest.curve
    equity = curve["equity"].to_numpy(dtype=np.float64)
    steps = curve.iloc[1:]
    notional = steps["turnover"].to_numpy() * equity[:-1]  # turnover is per previous equity
    gross = np.abs(backtest.weights.drop(columns="timestamp").to_numpy()[1:, 1:]).sum(axis=1)
    held = steps["exposure_before"].to_numpy() > 0
    gained = steps["log_return"].to_numpy() > 0
    trading = {
        "turnover": float(notional.sum() / equity.mean()),
        "hit_rate": float(gained[held].mean()) if held.any() else math.nan,
        "avg_holding_bars": math.nan,
        "costs_paid": float(steps["costs"].sum()),
        "exposure": float(gross.mean()) if len(gross) else 0.0,
        "time_in_market": float(np.mean(gross > 0)) if len(gross) else 0.0,
        "n_trades": float(steps["trades"].sum()),
    }
    returns = return_metrics(equity, curve["timestamp"], periods_per_year, min_annualised_days)
    return in_order(returns, trading)


def evaluate_portfolio(
    model: Any,
    panel: Panel,
    cfg: PortfolioEnvConfig,
    *,
    split: str,
    deterministic: bool,
    baseline_names: Sequence[str],
    periods_per_year: float,
    liquidate: bool,
    min_annualised_days: float,
    index_panel: Panel | None = None,
    history: Panel | None = None,
) -> PortfolioEvaluation:
    """Backtest `model` and the baselines over the whole of `panel` (module docstring);
    `history`: the bars before `panel`, the past of the look-back baselines."""
    agent = model_rollout(panel, cfg, model, deterministic=deterministic, liquidate=liquidate)
    runs = run_portfolio_baselines(
        panel, cfg, baseline_names, liquidate=liquidate, index_panel=index_panel,
        history=history,
    )  # fmt: skip

    def metrics_of(b: PortfolioBacktest) -> dict[str, float]:
        return portfolio_metrics(b, periods_per_year, min_annualised_days)

    curves = pd.DataFrame({"timestamp": agent.curve["timestamp"]})
    for name, run in runs.items():
        curves[name] = run.curve["equity"].to_numpy()
    equity = {name: curves[name].to_numpy() for name in runs}
    verdict = judge_equity(
        agent.curve["equity"], equity, split=split, periods_per_year=periods_per_year,
        benchmark=PORTFOLIO_BENCHMARK,
    )  # fmt: skip
    bound = cfg.weights.max_weight
    compared = [
        versus(agent, runs[name], name, periods_per_year=periods_per_year)
        for name in ("equal_weight", "buy_and_hold")
        if name in runs
    ]
    return PortfolioEvaluation(
        split,
        agent,
        metrics_of(agent),
        {name: metrics_of(run) for name, run in runs.items()},
        curves,
        verdict,
        {"agent": diagnostics(agent, bound), **{n: diagnostics(r, bound) for n, r in runs.items()}},
        compared,
    )


def run_portfolio_baselines(
    panel: Panel,
    cfg: PortfolioEnvConfig,
    names: Sequence[str],
    *,
    liquidate: bool,
    index_panel: Panel | None,
    history: Panel | None = None,
) -> dict[str, PortfolioBacktest]:
    """The `names` baselines over `panel` (the index on `index_panel`, its own one-instrument
    panel on the same bars; skipped with a warning when the dataset has none)."""
    b = cfg.baselines
    optimiser = b.refit_every if any(n in OPTIMISED for n in names) else None
    runs = baselines(
        panel, cfg, k=b.top_k, lookback=b.lookback, optimiser_every=optimiser,
        names=[n for n in names if n != INDEX], liquidate=liquidate, before=history,
    )  # fmt: skip
    if INDEX in names:
        if index_panel is None:
            log.warning("baseline 'index': the panel dataset has no index; left out")
        else:
            alone = dataclasses.replace(cfg, features=None)
            symbol = index_panel.symbols[0]
            runs[INDEX] = rollout(index_panel, alone, index_holding(index_panel, symbol),
                                  liquidate=liquidate)  # fmt: skip
    return {n: runs[n] for n in names if n in runs}


def write_portfolio_evaluation(evaluation: PortfolioEvaluation, folder: Path) -> tuple[Path, Path]:
    """The files of the module docstring in `folder`, each atomically; (trades, equity)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    agent = evaluation.agent
    trades = agent.trades if agent.trades is not None else pd.DataFrame()
    if len(trades):
        traded = trades.drop(columns="timestamp")
        trades = trades.loc[(traded != 0).any(axis=1)]
    frames = {
        layout.EQUITY: agent.curve,
        layout.WEIGHTS: agent.weights,
        layout.TRADES: trades,
        layout.BASELINES_EQUITY: evaluation.baseline_curves,
    }
    for name, frame in frames.items():
        with atomic_path(folder / name) as tmp:
            frame.to_csv(tmp, index=False)
    write_json_atomic(folder / layout.METRICS, evaluation.summary())
    return folder / layout.TRADES, folder / layout.EQUITY


def _json_values(record: dict[str, Any]) -> dict[str, Any]:
    """Numbers through json_number (NaN as null); names and flags as they are."""
    return {
        k: v if isinstance(v, str | bool) or v is None else json_number(v)
        for k, v in record.items()
    }
