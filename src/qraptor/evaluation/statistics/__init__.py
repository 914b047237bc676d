"""Statistics of results: how much a Sharpe ratio, a set of seeds or a search can be trusted.

Public API (`qraptor.evaluation.statistics`), by question:

* one return series: is its Sharpe above a target, how long a record would confirm it?
  `return_moments`, `sharpe_ratio_std`, `probabilistic_sharpe_ratio` (PSR),
  `minimum_track_record_length` (MinTRL, in bars)  -- sharpe.py
* the best of a search: what Sharpe would luck alone give the best of N trials, does the
  selected trial survive it, does in-sample rank say anything out of sample?
  `expected_max_sharpe`, `deflated_sharpe_ratio` (DSR), `sweep_significance`
  -- sharpe.py; `probability_of_backtest_overfitting` (PBO by CSCV) -- overfitting.py
* several runs of one configuration (seeds x folds): mean and IQM with intervals honest for
  few runs, P(agent beats a baseline)  -- runs.py

Conventions: Sharpe ratios here are per bar (mean / std, ddof=1, risk-free 0), never
annualised; multiply by √(bars per year) to compare with the annualised figures of
qraptor.evaluation.metrics.
"""

from qraptor.evaluation.statistics.overfitting import (
    BacktestOverfitting,
    probability_of_backtest_overfitting,
)
from qraptor.evaluation.statistics.runs import (
    FEW_RUNS,
    STATISTICS,
    TRIM,
    FewRunsWarning,
    Interval,
    RunSummary,
    Strata,
    as_strata,
    bootstrap_ci,
    interquartile_mean,
    mean_interval,
    probability_of_improvement,
    stratified_mean,
    summarize_runs,
)
from qraptor.evaluation.statistics.sharpe import (
    EULER_GAMMA,
    ReturnMoments,
    SweepSignificance,
    deflated_sharpe_ratio,
    equity_moments,
    expected_max_sharpe,
    minimum_track_record_length,
    probabilistic_sharpe_ratio,
    return_moments,
    sharpe_ratio_std,
    sweep_significance,
)

__all__ = [
    "EULER_GAMMA",
    "FEW_RUNS",
    "STATISTICS",
    "TRIM",
    "BacktestOverfitting",
    "FewRunsWarning",
    "Interval",
    "ReturnMoments",
    "RunSummary",
    "Strata",
    "SweepSignificance",
    "as_strata",
    "bootstrap_ci",
    "deflated_sharpe_ratio",
    "equity_moments",
    "expected_max_sharpe",
    "interquartile_mean",
    "mean_interval",
    "minimum_track_record_length",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "probability_of_improvement",
    "return_moments",
    "sharpe_ratio_std",
    "stratified_mean",
    "summarize_runs",
    "sweep_significance",
]
