"""Metrics against hand-worked cases (definitions as in empyrical / quantstats)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qraptor.core.numbers import json_safe
from qraptor.evaluation.metric_names import METRIC_NAMES
from qraptor.evaluation.metrics import (
    bars_per_year,
    compute_metrics,
    holding_periods,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
    t_statistic,
)


def curve_of(equity, trade=None, units=None, fill=None, exposure=None, costs=None) -> pd.DataFrame:
    """A backtest-shaped curve: the start row, then one row per step."""
    n = len(equity) - 1
    zeros = [0.0] * n
    steps = {
        "trade": trade or zeros,
        "units": units or zeros,
        "fill_price": fill or [100.0] * n,
        "exposure": exposure or zeros,
        "costs": costs or zeros,
    }
    frame = pd.DataFrame({k: [0.0, *v] for k, v in steps.items()})
    frame["equity"] = np.asarray(equity, dtype=float)
    frame["equity_change"] = frame["equity"].diff().fillna(0.0)
    frame["timestamp"] = pd.date_range("2024-01-01", periods=len(equity), freq="D", tz="UTC")
    return frame


def test_returns_risk_and_drawdown_by_hand() -> None:
    # returns +10 %, -10 %, +10 %: mean 1/30, std (ddof 1) 0.11547, downside sqrt(0.01/3)
    m = compute_metrics(curve_of([100.0, 110.0, 99.0, 108.9]), periods_per_year=6)
    assert m["total_return"] == pytest.approx(0.089)
    assert m["annual_return"] == pytest.approx(1.089**2 - 1)  # 3 bars = half a year
    assert m["volatility"] == pytest.approx(0.1154701 * math.sqrt(6), rel=1e-6)
    assert m["sharpe"] == pytest.approx(1 / math.sqrt(2))  # (1/30) / 0.11547 * sqrt(6)
    assert m["sortino"] == pytest.approx(math.sqrt(2))  # (1/30) / 0.057735 * sqrt(6)
    assert m["max_drawdown"] == pytest.approx(0.1)  # 110 -> 99
    assert m["calmar"] == pytest.approx((1.089**2 - 1) / 0.1)
    assert m["final_equity"] == pytest.approx(108.9) and m["bars"] == 3
    # per-bar moments for the probabilistic / deflated Sharpe ratios: +10 %, -10 %, +10 %
    assert m["sharpe_per_bar"] == pytest.approx((1 / 30) / 0.1154701, rel=1e-6)
    assert m["skewness"] == pytest.approx(-0.7071068, rel=1e-6)  # two up, one down
    assert m["kurtosis"] == pytest.approx(1.5)  # Pearson, biased: a two-point law
    assert set(m) == set(METRIC_NAMES)


def test_trading_metrics_by_hand() -> None:
    # Cash 1000. Long 10 at 100 (cost 1), closes 100.5, 99, 102: +4, -15, +30. Reversal to
    # short 10 at 103 (trade -20, cost 2): the long's part is 10 x (103 - 102) - 1 = +9, the
    # short's -10 x (104 - 103) - 1 = -11 (the bar's change is -2). Short: close 102.5 (+15),
    # bought back at 104.4 (cost 1): -10 x (104.4 - 102.5) - 1 = -20. Long +28 (4 bars),
    # short -16 (3 bars). The old rule (closing bars left out, a reversal's bar all to the
    # new period) gave +19 and +13: two winners, 3 and 2 bars.
    m = compute_metrics(
        curve_of(
            [1000, 1004, 989, 1019, 1017, 1032, 1012, 1012],
            trade=[10, 0, 0, -20, 0, 10, 0],
            units=[10, 10, 10, -10, -10, 0, 0],
            fill=[100, 101, 102, 103, 104, 104.4, 106],
            exposure=[1005, 990, 1020, -1040, -1025, 0, 0],
            costs=[1, 0, 0, 2, 0, 1, 0],
        ),
        periods_per_year=252,
    )
    assert m["hit_rate"] == pytest.approx(0.5)
    assert m["avg_holding_bars"] == pytest.approx(3.5)
    assert m["n_trades"] == 3 and m["costs_paid"] == pytest.approx(4.0)
    assert m["turnover"] == pytest.approx((10 * 100 + 20 * 103 + 10 * 104.4) / 1010.625)
    assert m["time_in_market"] == pytest.approx(5 / 7)


def test_a_round_trip_includes_its_closing_bar_and_a_reversal_is_split() -> None:
    pnl, bars = holding_periods(
        trade=np.array([10, 0, 0, -20, 0, 10, 0]),
        units=np.array([10, 10, 10, -10, -10, 0, 0]),
        equity_change=np.array([4.0, -15.0, 30.0, -2.0, 15.0, -20.0, 0.0]),
        fill_price=np.array([100, 101, 102, 103, 104, 104.4, 106]),
        exposure=np.array([1005, 990, 1020, -1040, -1025, 0, 0]),
        costs=np.array([1.0, 0, 0, 2.0, 0, 1.0, 0]),
    )
    np.testing.assert_allclose(pnl, [28.0, -16.0])
    np.testing.assert_allclose(bars, [4, 3])  # the reversal's bar is in both


def test_holding_periods_start_at_every_fill() -> None:
    # 5 long at 100 (+1, +2); 5 more at 100.4: the first period's part is 5 x 100.4 - 503
    # = -1, the new 10's 10 x (100.1 - 100.4) = -3; +1; sold at 100.9: 10 x 0.7 = +7.
    pnl, bars = holding_periods(
        trade=np.array([5, 0, 5, 0, -10, 0]),
        units=np.array([5, 5, 10, 10, 0, 0]),
        equity_change=np.array([1.0, 2.0, -4.0, 1.0, 7.0, 0.0]),
        fill_price=np.array([100, 100, 100.4, 100, 100.9, 100]),
        exposure=np.array([501, 503, 1001, 1002, 0, 0]),
        costs=np.zeros(6),
    )
    np.testing.assert_allclose(pnl, [2.0, 5.0])  # adding to a position starts a new period
    np.testing.assert_allclose(bars, [3, 3])


def test_cagr_and_calmar_are_blank_on_a_short_span() -> None:
    # +22.6 % in 6 days with a 2 % drawdown: compounded to a year, ~2.4e5 (24 million %)
    equity = [100.0, 104.0, 101.92, 110.0, 115.0, 119.0, 122.6]
    m = compute_metrics(curve_of(equity), periods_per_year=365.25, min_annualised_days=91)
    assert m["span_days"] == pytest.approx(6.0) and m["total_return"] == pytest.approx(0.226)
    assert math.isnan(m["annual_return"]) and math.isnan(m["calmar"])
    assert json_safe(m)["annual_return"] is None and json_safe(m)["calmar"] is None
    loose = compute_metrics(curve_of(equity), periods_per_year=365.25)
    assert loose["annual_return"] == pytest.approx(1.226 ** (365.25 / 6) - 1)  # the old figure


def test_a_one_year_span_is_annualised_as_before() -> None:
    equity = 100.0 * np.exp(np.linspace(0.0, 0.1, 366)) * (1 + 0.01 * np.sin(np.arange(366)))
    m = compute_metrics(curve_of(list(equity)), periods_per_year=365.25, min_annualised_days=91)
    assert m["span_days"] == pytest.approx(365.0)
    assert m["annual_return"] == pytest.approx((equity[-1] / equity[0]) ** (365.25 / 365) - 1)
    assert m["calmar"] == pytest.approx(m["annual_return"] / m["max_drawdown"])


def test_a_flat_curve_has_no_risk_and_undefined_ratios() -> None:
    m = compute_metrics(curve_of([100.0] * 5), periods_per_year=252)
    assert m["sharpe"] == 0 and m["sortino"] == 0 and m["max_drawdown"] == 0
    assert math.isnan(m["calmar"]) and math.isnan(m["hit_rate"])
    safe = json_safe(m)
    assert safe["calmar"] is None and safe["hit_rate"] is None and safe["sharpe"] == 0


def test_sharpe_scales_with_the_root_of_the_frequency() -> None:
    returns = np.random.default_rng(1).normal(0.001, 0.01, 500)
    assert sharpe_ratio(returns, 1000) == pytest.approx(sharpe_ratio(returns, 250) * 2)
    assert sortino_ratio(np.array([0.01, 0.02]), 252) == math.inf  # no downside at all
    assert t_statistic(returns) == pytest.approx(
        returns.mean() / returns.std(ddof=1) * math.sqrt(500)
    )


def test_max_drawdown_uses_the_running_peak() -> None:
    assert max_drawdown(np.array([1.0, 2.0, 1.0, 3.0, 2.4])) == pytest.approx(0.5)


def test_bars_per_year_from_timestamps_respects_closed_hours() -> None:
    every_day = pd.date_range("2023-01-01", periods=366, freq="D", tz="UTC")
    assert bars_per_year(every_day) == pytest.approx(365.25)
    weekdays = pd.bdate_range("2022-01-03", "2023-12-29", tz="UTC")
    assert bars_per_year(weekdays) == pytest.approx(261, rel=0.01)
    hours = pd.date_range("2023-01-01", periods=24 * 365, freq="h", tz="UTC")
    assert bars_per_year(hours) == pytest.approx(8766, rel=0.001)
    # 1-minute bars of a 6.5-hour weekday session over a quarter: ~98-102k bars a year
    days = pd.bdate_range("2024-01-01", periods=65, tz="UTC")
    minutes = pd.DatetimeIndex(
        [d + pd.Timedelta(hours=14, minutes=30 + k) for d in days for k in range(390)]
    )
    assert 95_000 < bars_per_year(minutes) < 106_000  # not 525,960 (one bar every minute)
    with pytest.raises(ValueError):
        bars_per_year(every_day[:1])
