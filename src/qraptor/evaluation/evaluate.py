"""Evaluate a trained policy on one split: the agent's backtest next to its baselines.

What a report needs for one split: the agent's metrics, each baseline's metrics (a random
policy summarised by the median of its runs; the matched `random`'s Sharpe ratios kept as a
distribution), and the files: trade log, equity curve, baseline equity curves, metrics JSON.
The agent's backtest runs first: the matched random baseline copies its trading.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qraptor.core import layout
from qraptor.core.atomic import atomic_path, write_json_atomic
from qraptor.core.numbers import json_safe
from qraptor.env.config import EnvConfig
from qraptor.env.market import Market
from qraptor.evaluation.backtest import Backtest, backtest_model, write_backtest
from qraptor.evaluation.baseline_names import RANDOM
from qraptor.evaluation.baselines import run_baselines
from qraptor.evaluation.metrics import bars_per_year, compute_metrics, padded_equity
from qraptor.evaluation.verdict import Verdict, judge_equity


@dataclasses.dataclass
class SplitEvaluation:
    split: str
    agent: Backtest
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]  # name -> metrics (random: medians over runs)
    baseline_curves: pd.DataFrame  # timestamp + equity per baseline (random: per-bar median)
    random_sharpes: list[float]  # one per run of the matched random policy
    verdict: Verdict | None = None  # the agent against buy-and-hold on these bars (verdict.py)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: agent and baseline metrics, the random Sharpe distribution."""
        return evaluation_summary(self.metrics, self.baselines, self.random_sharpes, self.verdict)


def evaluation_summary(
    metrics: dict[str, float],
    baselines: dict[str, dict[str, float]],
    random_sharpes: list[float],
    verdict: Verdict | None,
) -> dict[str, Any]:
    """A split's metrics.json: the agent's and each baseline's metrics, the random policy's
    Sharpe ratios, the verdict (a portfolio's adds its diagnostics and `versus`)."""
    return {
        "agent": json_safe(metrics),
        "baselines": {name: json_safe(m) for name, m in baselines.items()},
        "random_sharpes": random_sharpes,
        "verdict": verdict.to_dict() if verdict is not None else None,
    }


def evaluate_model(
    model: Any,
    market: Market,
    cfg: EnvConfig,
    *,
    split: str,
    deterministic: bool,
    baselines: Sequence[str],
    random_runs: int,
    seed: int,
    periods_per_year: float | None,
    ma_windows: Sequence[int | str] = (24, 96),
    liquidate: bool,
    min_annualised_days: float,
) -> SplitEvaluation:
    """Backtest `model` and the `baselines` over the whole of `market`, same costs; with
    `liquidate` every one ends the span in cash (`session.eval.liquidate`); CAGR and Calmar
    are blank under `min_annualised_days` (`session.eval.min_annualised_days`)."""
    agent = backtest_model(model, market, cfg, deterministic=deterministic, liquidate=liquidate)
    metrics = compute_metrics(
        agent.curve, periods_per_year, min_annualised_days=min_annualised_days
    )
    runs = run_baselines(
        market, cfg, baselines, random_runs, seed, ma_windows, liquidate=liquidate, agent=agent
    )
    baseline_metrics: dict[str, dict[str, float]] = {}
    start = cfg.window - 1  # the first decision bar of a full-span episode
    stamps = pd.to_datetime(market.timestamps[start:], unit="ns", utc=True)
    curves = pd.DataFrame({"timestamp": stamps})
    random_sharpes: list[float] = []
    for name, backtests in runs.items():
        per_run = [
            compute_metrics(b.curve, periods_per_year, min_annualised_days=min_annualised_days)
            for b in backtests
        ]
        baseline_metrics[name] = {key: _median([m[key] for m in per_run]) for key in per_run[0]}
        curves[name] = np.median(
            [padded_equity(b.curve["equity"], len(curves)) for b in backtests], axis=0
        )
        if name == RANDOM:
            random_sharpes = [m["sharpe"] for m in per_run]
    per_year = periods_per_year or bars_per_year(agent.curve["timestamp"])
    equity = {name: curves[name].to_numpy() for name in runs}
    verdict = judge_equity(agent.curve["equity"], equity, split=split, periods_per_year=per_year)
    return SplitEvaluation(
        split, agent, metrics, baseline_metrics, curves, random_sharpes, verdict=verdict
    )


def write_evaluation(evaluation: SplitEvaluation, folder: Path) -> tuple[Path, Path]:
    """trades.csv, equity.csv, baselines_equity.csv, metrics.json in `folder`, atomically."""
    trades, equity = write_backtest(evaluation.agent, folder)
    with atomic_path(Path(folder) / layout.BASELINES_EQUITY) as tmp:
        evaluation.baseline_curves.to_csv(tmp, index=False)
    write_json_atomic(Path(folder) / layout.METRICS, evaluation.summary())
    return trades, equity


def _median(values: list[float]) -> float:
    """Median over the runs that define the metric (NaN if none does, without a warning)."""
    defined = [v for v in values if not np.isnan(v)]
    return float(np.median(defined)) if defined else float("nan")
