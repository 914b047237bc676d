"""Names of the metrics (no numpy/pandas/scipy: config schemas import this)."""

METRIC_NAMES = (
    "total_return",
    "annual_return",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "turnover",
    "hit_rate",
    "avg_holding_bars",
    "costs_paid",
    "exposure",
    "time_in_market",
    "n_trades",
    "bars",
    "span_days",
    "final_equity",
    # per-bar (not annualised) moments: what the probabilistic and deflated Sharpe ratios need
    "sharpe_per_bar",
    "skewness",
    "kurtosis",
)
