"""Lengths in bars or durations (qraptor.data.lengths), counted on real bars."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

from qraptor.core.errors import ConfigError
from qraptor.data.lengths import BarClock, check_length, parse_length
from qraptor.data.reduce.bars import parse_freq


def sample_timestamps(resource: str, column: str, fmt: str, zone: str) -> pd.Series:
    path = resources.files("gym_anytrading") / f"datasets/data/{resource}"
    frame = pd.read_csv(str(path))
    local = pd.to_datetime(frame[column], format=fmt)
    return local.dt.tz_localize(zone).dt.tz_convert("UTC")


@pytest.fixture(scope="module")
def hourly_fx() -> BarClock:
    return BarClock(
        sample_timestamps("FOREX_EURUSD_1H_ASK.csv", "Time", "%d.%m.%Y %H:%M:%S.%f", "UTC")
    )


@pytest.fixture(scope="module")
def daily_stock() -> BarClock:
    return BarClock(sample_timestamps("STOCKS_GOOGL.csv", "Date", "%Y-%m-%d", "America/New_York"))


def test_durations_count_the_bars_a_window_of_that_length_holds(
    hourly_fx: BarClock, daily_stock: BarClock
) -> None:
    # FX trades 120 hours a week: a week of hourly bars is 120 bars, not 168
    assert [hourly_fx.bars(v, "k") for v in ("6h", "1d", "2d", "1w")] == [6, 24, 48, 120]
    # stocks trade 5 days a week, about 21 a month
    assert [daily_stock.bars(v, "k") for v in ("1d", "1w", "1mo", "4mo")] == [1, 5, 21, 84]
    monthly = BarClock(pd.date_range("1985-01-01", periods=480, freq="MS", tz="UTC"))
    assert [monthly.bars(v, "k") for v in ("1d", "1mo", "4mo", "1y")] == [1, 1, 4, 12]


def test_plain_integers_stay_bars_and_min_max_pick_per_frequency(
    hourly_fx: BarClock, daily_stock: BarClock
) -> None:
    weekly = BarClock(pd.date_range("2005-01-03", periods=1043, freq="W-MON", tz="UTC"))
    assert hourly_fx.bars(48, "k") == weekly.bars(48, "k") == 48
    assert hourly_fx.bars("min(48, 2d)", "k") == 48
    assert daily_stock.bars("min(48, 2d)", "k") == 2
    assert weekly.bars("min(48, 2d)", "k") == 1
    assert weekly.bars("max(3, 1d)", "k") == 3
    assert weekly.bars("1d", "k", minimum=2) == 2  # a std window needs two bars


def test_a_duration_longer_than_the_data_is_extrapolated() -> None:
    two_days = BarClock(pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC"))
    assert two_days.bars("1w", "k") == 172  # 48 bars in 47 h, times 168 h, rounded up


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("2M", "write 'min' for minutes, 'mo' for months"),
        ("banana", "is not a duration"),
        ("0d", "longer than zero"),
        ("min(2d)", "needs two or more lengths"),
        (True, "is not a length"),
    ],
)
def test_bad_lengths_name_the_full_key(value: object, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_length(value, "split.embargo")
    assert info.value.key == "split.embargo"
    assert problem in info.value.problem


def test_lengths_accept_exactly_the_durations_reduce_freq_accepts() -> None:
    for text in ("15s", "1min", "1h30m", "1d", "1w", "1mo", "1q", "1y"):
        parse_freq(text)
        parse_length(text, "k")
    for text in ("1M", "1x", "d1"):
        with pytest.raises(ConfigError):
            parse_freq(text)
        with pytest.raises(ConfigError):
            parse_length(text, "k")
    with pytest.raises(ConfigError, match="must be >= 2"):
        check_length("min(1, 2d)", "features.volatility.windows.0", minimum=2)
