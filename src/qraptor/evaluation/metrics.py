"""Financial metrics of an equity curve, with annualisation from the bar timestamps.

Definitions (r_t = E_t / E_{t-1} - 1, the simple return of bar t; n = number of returns;
P = bars per year; risk-free rate 0), as in empyrical / quantstats:

* total_return  E_n / E_0 - 1;  annual_return (CAGR)  (E_n / E_0) ** (P / n) - 1, blank
                (NaN) when the curve spans fewer than `min_annualised_days` calendar days:
                a few days compounded to a year say nothing (22.6% in 6 days is "11,716")
* volatility    std(r, ddof=1) * sqrt(P)
* sharpe        mean(r) / std(r, ddof=1) * sqrt(P)       (0 when r never varies)
* sortino       mean(r) / sqrt(mean(min(r, 0)²)) * sqrt(P)   (downside over all bars)
* max_drawdown  max_t 1 - E_t / max_{s<=t} E_s, a positive fraction
* calmar        annual_return / max_drawdown    (NaN without a drawdown or a CAGR)
* span_days     calendar days from the first to the last timestamp of the curve
* turnover      traded notional (|units| x fill price) / mean equity, over the span
* hit_rate      share of holding periods that made money; a holding period is a run of
                bars holding the same non-zero position, from the fill that opens it to the
                fill that ends it, both included: its P&L is the round trip's, entry and
                exit costs paid (`holding_periods`)
* avg_holding_bars  mean length of those holding periods in bars: the bars their P&L
                comes from, the opening fill's bar to the closing fill's bar included
* costs_paid    fees + slippage, in cash;  exposure  mean |exposure| / equity over the bars;
  time_in_market  share of bars with a position;  n_trades  bars with a fill

`bars_per_year` counts bars over elapsed calendar time instead of inverting the bar
spacing, so closed hours are handled: 1-minute bars of a 6.5-hour, 5-day market give
~98k bars a year, not the 525,960 that "one bar a minute" implies.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from qraptor.evaluation.metric_names import METRIC_NAMES
from qraptor.evaluation.statistics import return_moments

DAY_NS = 24 * 3600 * 1e9
YEAR_NS = 365.25 * DAY_NS

# The metrics shown first (the DVC metrics file, the dashboard); every metric stays in the
# session summary.
HEADLINE_METRICS = (
    "total_return",
    "annual_return",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "turnover",
    "hit_rate",
    "costs_paid",
    "exposure",
    "n_trades",
)


def bars_per_year(timestamps: pd.Series | np.ndarray | pd.DatetimeIndex) -> float:
    """Bars a year at the frequency the timestamps show: (n - 1) bars / elapsed years.

    Use the longest span available (the whole dataset or the training split) so that a
    short evaluation span is annualised like the rest; a few days do not sample weekends.
    """
    stamps = pd.DatetimeIndex(pd.to_datetime(np.asarray(timestamps), utc=True))
    if len(stamps) < 2:
        raise ValueError("bars_per_year needs at least two timestamps")
    elapsed_ns = float(stamps[-1].value - stamps[0].value)
    if elapsed_ns <= 0:
        raise ValueError("timestamps must increase")
    return (len(stamps) - 1) * YEAR_NS / elapsed_ns


def simple_returns(equity: np.ndarray) -> np.ndarray:
    """r_t = E_t / E_{t-1} - 1 for t = 1..n."""
    equity = np.asarray(equity, dtype=np.float64)
    return equity[1:] / equity[:-1] - 1.0


def padded_equity(equity: np.ndarray | pd.Series, length: int) -> np.ndarray:
    """An equity curve over `length` bars of its span: after an env stop ended it early, the
    equity stays where it ended (cash, returns of 0), so it lines up with full-span curves."""
    values = np.asarray(equity, dtype=np.float64)
    if len(values) == 0 or len(values) >= length:
        return values
    return np.concatenate([values, np.full(length - len(values), values[-1])])


def sharpe_ratio(returns: np.ndarray, periods_per_year: float) -> float:
    """Annualised Sharpe ratio (risk-free 0, ddof=1); 0 when returns never vary."""
    returns = np.asarray(returns, dtype=np.float64)
    if len(returns) < 2:
        return 0.0
    std = returns.std(ddof=1)
    if std == 0 or not math.isfinite(std):
        return 0.0
    return float(returns.mean() / std * math.sqrt(periods_per_year))


def sortino_ratio(returns: np.ndarray, periods_per_year: float) -> float:
    """Annualised Sortino ratio (target 0): mean over downside deviation of all bars."""
    returns = np.asarray(returns, dtype=np.float64)
    if len(returns) == 0:
        return 0.0
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    mean = float(returns.mean())
    if downside == 0:
        return math.inf if mean > 0 else 0.0
    return mean / downside * math.sqrt(periods_per_year)


def max_drawdown(equity: np.ndarray) -> float:
    """Largest fall from a running peak, as a positive fraction of that peak."""
    equity = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(equity)
    return float(np.max(1.0 - equity / peak)) if len(equity) else 0.0


def annual_return(equity: np.ndarray, periods_per_year: float) -> float:
    """Compound annual growth rate over the curve (-1 if the account was wiped out)."""
    equity = np.asarray(equity, dtype=np.float64)
    n = len(equity) - 1
    if n < 1:
        return 0.0
    growth = equity[-1] / equity[0]
    if growth <= 0:
        return -1.0
    return float(growth ** (periods_per_year / n) - 1.0)


def holding_periods(
    trade: np.ndarray,
    units: np.ndarray,
    equity_change: np.ndarray,
    fill_price: np.ndarray,
    exposure: np.ndarray,
    costs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """P&L and length in bars of each holding period (a run of bars with the same non-zero
    position; a new period starts at every fill), the bar of the fill that ends it included,
    so a round trip that loses after its exit costs is a loss.

    Arrays are per step (bar 1..n): the trade filled in the bar, the units held after it,
    the bar's equity change, fill price, exposure after it (units x close) and costs.

    A fill bar's change is ``u_old (fill - previous close) - costs + u_new (close - fill)``
    (kernel.py). The old position's part, its move to the fill price and the closing share
    of the fill's costs, belongs to the period the fill ends; the rest (the new position's
    move from the fill, the opening share of the costs) to the one it opens. The closing
    share is the part of the traded units that reduces the old position: all of them when
    it is closed or reduced, ``|u_old| / |trade|`` on a reversal (long to short in one
    fill), none when adding to it. A bar that ends flat gives its whole change to the old
    period. A length counts the bars a P&L comes from, the opening fill's bar to the
    closing fill's bar (a reversal's bar is in both periods). A period still open at the
    end of the curve counts as marked there.
    """
    arrays = (trade, units, equity_change, fill_price, exposure, costs)
    trade, units, equity_change, fill_price, exposure, costs = (
        np.asarray(a, dtype=np.float64) for a in arrays
    )
    fills = trade != 0
    before = np.concatenate([[0.0], units[:-1]])
    marked = np.concatenate([[0.0], exposure[:-1]])  # u_old x the previous close
    reducing = fills & (np.sign(trade) == -np.sign(before))
    closing = np.where(reducing, np.minimum(np.abs(trade), np.abs(before)), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(fills, closing / np.abs(trade), 0.0)
    closes = fills & (before != 0)
    old = np.where(closes, before * fill_price - marked - share * costs, 0.0)
    old = np.where(closes & (units == 0), equity_change, old)
    held = units != 0
    period = np.cumsum(fills)  # the period a step's holding belongs to (0 before a fill)
    ids = np.concatenate([period[held], period[closes] - 1])
    if len(ids) == 0:
        return np.zeros(0), np.zeros(0)
    pnl = np.concatenate([(equity_change - old)[held], old[closes]])
    labels, index = np.unique(ids, return_inverse=True)
    return (
        np.bincount(index, weights=pnl, minlength=len(labels)),
        np.bincount(index, minlength=len(labels)).astype(np.float64),
    )


def span_days(timestamps: pd.Series | np.ndarray | pd.DatetimeIndex) -> float:
    """Calendar days from the first timestamp to the last."""
    stamps = pd.DatetimeIndex(pd.to_datetime(np.asarray(timestamps), utc=True))
    return float(stamps[-1].value - stamps[0].value) / DAY_NS if len(stamps) else 0.0


def compute_metrics(
    curve: pd.DataFrame,
    periods_per_year: float | None = None,
    *,
    min_annualised_days: float = 0.0,
) -> dict[str, float]:
    """Every metric of metric_names.METRIC_NAMES for an equity curve from `backtest.rollout`.

    `curve` has one row per bar: the start (initial equity, no fill) then one per step, with
    columns timestamp, equity, equity_change, trade, units, fill_price, exposure, costs.
    `periods_per_year` defaults to `bars_per_year` of the curve's own timestamps. CAGR and
    Calmar are NaN (JSON null) when the curve spans fewer than `min_annualised_days`
    calendar days (`session.eval.min_annualised_days`; 0 = always annualise).
    """
    if periods_per_year is None:
        periods_per_year = bars_per_year(curve["timestamp"])
    equity = curve["equity"].to_numpy(dtype=np.float64)
    steps = curve.iloc[1:]
    trade = steps["trade"].to_numpy(dtype=np.float64)
    units = steps["units"].to_numpy(dtype=np.float64)
    periods, lengths = holding_periods(
        trade,
        units,
        steps["equity_change"].to_numpy(dtype=np.float64),
        steps["fill_price"].to_numpy(dtype=np.float64),
        steps["exposure"].to_numpy(dtype=np.float64),
        steps["costs"].to_numpy(dtype=np.float64),
    )
    notional = np.abs(trade) * steps["fill_price"].to_numpy(dtype=np.float64)
    step_equity = steps["equity"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        position = np.where(
            step_equity > 0, steps["exposure"].to_numpy(dtype=np.float64) / step_equity, 0.0
        )
    trading = {
        "turnover": float(notional.sum() / equity.mean()),
        "hit_rate": float(np.mean(periods > 0)) if len(periods) else math.nan,
        "avg_holding_bars": float(lengths.mean()) if len(lengths) else 0.0,
        "costs_paid": float(steps["costs"].sum()),
        "exposure": float(np.abs(position).mean()) if len(position) else 0.0,
        "time_in_market": float(np.mean(units != 0)) if len(units) else 0.0,
        "n_trades": float(np.count_nonzero(trade)),
    }
    return in_order(
        return_metrics(equity, curve["timestamp"], periods_per_year, min_annualised_days),
        trading,
    )


def return_metrics(
    equity: np.ndarray,
    timestamps: pd.Series | np.ndarray,
    periods_per_year: float,
    min_annualised_days: float = 0.0,
) -> dict[str, float]:
    """The metrics of an equity curve alone (one value per bar, the first the start):
    returns, risk, drawdown, the span; what a single instrument and a portfolio share."""
    equity = np.asarray(equity, dtype=np.float64)
    returns = simple_returns(equity)
    days = span_days(timestamps)
    annual = annual_return(equity, periods_per_year) if days >= min_annualised_days else math.nan
    drawdown = max_drawdown(equity)
    moments = return_moments(returns)
    return {
        "total_return": float(equity[-1] / equity[0] - 1.0),
        "annual_return": annual,
        "volatility": float(returns.std(ddof=1) * math.sqrt(periods_per_year))
        if len(returns) > 1
        else 0.0,
        "sharpe": sharpe_ratio(returns, periods_per_year),
        "sortino": sortino_ratio(returns, periods_per_year),
        "max_drawdown": drawdown,
        "calmar": annual / drawdown if drawdown > 0 else math.nan,  # NaN with a blank CAGR
        "bars": float(len(equity) - 1),
        "span_days": days,
        "final_equity": float(equity[-1]),
        "sharpe_per_bar": moments.sharpe,
        "skewness": moments.skewness,
        "kurtosis": moments.kurtosis,
    }


def in_order(returns: dict[str, float], trading: dict[str, float]) -> dict[str, float]:
    """The two parts as one dict in METRIC_NAMES order (files and tables keep it)."""
    merged = {**returns, **trading}
    return {name: merged[name] for name in METRIC_NAMES}


def t_statistic(returns: np.ndarray) -> float:
    """t-statistic of the mean return (mean / std(ddof=1) * sqrt(n)): how many standard
    errors the edge is from zero. For the difference of two strategies on the same bars,
    pass their return difference (a paired test)."""
    returns = np.asarray(returns, dtype=np.float64)
    if len(returns) < 2:
        return 0.0
    std = returns.std(ddof=1)
    return float(returns.mean() / std * math.sqrt(len(returns))) if std > 0 else 0.0
