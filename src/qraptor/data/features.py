"""Stage `features`: causal features computed from bars (no look-ahead).

Every feature at bar t is a function of bars at or before t only: trailing rolling windows,
recursive (exponentially weighted) averages started at the first bar, and differences with
earlier bars. Nothing is centred, back-filled or fitted on the whole series, so perturbing
any bar after t leaves every feature at or before t bit-for-bit unchanged
(tests/data/test_lookahead.py proves it on random t).

Indicators come from `ta` 0.11 where its implementation is causal and vectorised (RSI,
MACD, Bollinger Bands). Its ATR is causal but a Python loop over rows that also reports 0
instead of "undefined" during warm-up, so ATR is computed here with the same Wilder
recursion, vectorised (equal to `ta` to ~1e-18, see tests). Price-level indicators (MACD,
ATR) are divided by the close so that they are comparable across years and instruments.

Output columns are raw (un-normalised); scaling happens in the `split` stage, where the
training span is known. Leading warm-up rows, where any selected feature is still
undefined, are dropped and counted in ``frame.attrs["features"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import ta

from qraptor.core import portable_math
from qraptor.core.config import check
from qraptor.core.errors import DataError
from qraptor.core.log import get_logger
from qraptor.data.columns import INPUT_BAR_COLUMNS
from qraptor.data.lengths import BarClock, Length, check_lengths, is_duration

log = get_logger(__name__)


@dataclass
class LogReturnParams:
    horizons: list[Length]  # log(close_t / close_{t-h}) for each h: bars or a duration


@dataclass
class WindowsParams:
    windows: list[Length]  # one column per trailing window: bars or a duration


@dataclass
class MacdParams:
    fast: int  # EMA spans in bars
    slow: int
    signal: int


@dataclass
class BollingerParams:
    windows: list[Length]
    num_std: float  # band half-width in standard deviations


@dataclass
class FeaturesConfig:
    """Schema of conf/features: which features to compute (`include`) and their windows.

    Every feature has its own section, so switching one on is a one-word change in
    `include`; sections of features not included are validated but unused.
    """

    include: list[str]
    log_return: LogReturnParams
    volatility: WindowsParams  # std of 1-bar log returns
    rsi: WindowsParams
    macd: MacdParams
    bollinger: BollingerParams  # %B and band width
    atr: WindowsParams  # average true range / close
    volume_z: WindowsParams  # z-score of log(1 + volume) over a trailing window

    def __post_init__(self) -> None:
        check(len(self.include) > 0, "include", "select at least one feature")
        for i, name in enumerate(self.include):
            check(
                name in FEATURES,
                f"include.{i}",
                f"unknown feature '{name}'; valid names: {', '.join(FEATURES)}",
            )
        check(len(set(self.include)) == len(self.include), "include", "a feature is repeated")
        _check_windows(self.log_return.horizons, "log_return.horizons")
        for name in _WINDOWED:
            _check_windows(getattr(self, name).windows, f"{name}.windows")
        check(self.bollinger.num_std > 0, "bollinger.num_std", "must be > 0")
        for key in ("fast", "slow", "signal"):
            check(getattr(self.macd, key) > 0, f"macd.{key}", "must be > 0")
        check(self.macd.fast < self.macd.slow, "macd.fast", "must be < macd.slow")


def _check_windows(windows: list[Length], key: str) -> None:
    check(len(windows) > 0, key, "give at least one window")
    check_lengths(windows, key, _min_window(key))
    bars = [w for w in windows if isinstance(w, int)]
    check(len(set(bars)) == len(bars), key, f"a window is repeated in {windows}")


def _min_window(key: str) -> int:
    """The shortest window a feature can use (a standard deviation needs two bars)."""
    return 2 if {"volatility", "volume_z", "bollinger"} & set(key.split(".")) else 1


def resolve_windows(cfg: FeaturesConfig, timestamps: pd.Series | None) -> FeaturesConfig:
    """`cfg` with every window and horizon in bars of the series `timestamps`.

    Durations (``1mo``, ``min(120, 1mo)``) are counted on the bars (qraptor.data.lengths),
    at least the feature's shortest window; two that come out equal give one column.
    Without durations the config is returned as it is (no timestamps needed).
    """
    sections = {"log_return": "horizons", **{name: "windows" for name in _WINDOWED}}
    if not any(
        is_duration(w)
        for name, field in sections.items()
        for w in getattr(getattr(cfg, name), field)
    ):
        return cfg
    if timestamps is None:
        raise ValueError("feature windows given as durations need the bars' timestamps")
    clock = BarClock(timestamps)
    changes = {}
    for name, field in sections.items():
        key = f"features.{name}.{field}"
        values = getattr(getattr(cfg, name), field)
        bars = [clock.bars(w, f"{key}.{i}", _min_window(key)) for i, w in enumerate(values)]
        changes[name] = replace(getattr(cfg, name), **{field: list(dict.fromkeys(bars))})
    return replace(cfg, **changes)


_WINDOWED = ("volatility", "rsi", "bollinger", "atr", "volume_z")


Columns = dict[str, pd.Series]


def _log(series: pd.Series) -> pd.Series:
    """ln of `series`, the same bits on every machine (np.log's differ by CPU: see
    qraptor.core.portable_math); the other operations here are exact IEEE arithmetic or
    pandas' sequential rolling/ewm loops, which do not depend on the CPU."""
    values = portable_math.log(series.to_numpy(dtype="float64"))
    return pd.Series(values, index=series.index, name=series.name)


def _log1p(series: pd.Series) -> pd.Series:
    """ln(1 + x) of `series`, the same bits on every machine (see `_log`)."""
    values = portable_math.log1p(series.to_numpy(dtype="float64"))
    return pd.Series(values, index=series.index, name=series.name)


def _log_return(bars: pd.DataFrame, p: LogReturnParams) -> Columns:
    log_close = _log(bars["close"])
    return {f"log_return_{h}": log_close - log_close.shift(int(h)) for h in p.horizons}


def _volatility(bars: pd.DataFrame, p: WindowsParams) -> Columns:
    ret = _log(bars["close"]).diff()
    return {f"volatility_{w}": ret.rolling(int(w), min_periods=int(w)).std() for w in p.windows}


def _rsi(bars: pd.DataFrame, p: WindowsParams) -> Columns:
    close = bars["close"]
    return {f"rsi_{w}": ta.momentum.RSIIndicator(close, window=int(w)).rsi() for w in p.windows}


def _macd(bars: pd.DataFrame, p: MacdParams) -> Columns:
    close = bars["close"]
    macd = ta.trend.MACD(close, window_slow=p.slow, window_fast=p.fast, window_sign=p.signal)
    return {
        f"macd_{p.fast}_{p.slow}": macd.macd() / close,
        f"macd_hist_{p.fast}_{p.slow}_{p.signal}": macd.macd_diff() / close,
    }


def _bollinger(bars: pd.DataFrame, p: BollingerParams) -> Columns:
    close = bars["close"]
    out: Columns = {}
    for w in p.windows:
        bands = ta.volatility.BollingerBands(close, window=int(w), window_dev=p.num_std)
        pctb = bands.bollinger_pband()
        # A flat window has zero-width bands: `ta` says undefined; the close sits mid-band.
        flat = bands.bollinger_hband().eq(bands.bollinger_lband())
        out[f"bb_pctb_{w}"] = pctb.mask(flat, 0.5)
        out[f"bb_width_{w}"] = bands.bollinger_wband()
    return out


def _atr(bars: pd.DataFrame, p: WindowsParams) -> Columns:
    prev_close = bars["close"].shift(1)
    true_range = pd.concat(
        [
            bars["high"] - bars["low"],
            (bars["high"] - prev_close).abs(),
            (bars["low"] - prev_close).abs(),
        ],
        axis=1,
    ).max(axis=1)
    out: Columns = {}
    for w in map(int, p.windows):
        # Wilder: seed with the mean of the first w true ranges, then atr = (atr*(w-1) + tr)/w.
        seeded = true_range.where(true_range.index >= w - 1)
        if len(seeded) >= w:
            seeded.iloc[w - 1] = true_range.iloc[:w].mean()
        atr = seeded.ewm(alpha=1 / w, adjust=False).mean()
        out[f"atr_{w}"] = atr / bars["close"]
    return out


def _volume_z(bars: pd.DataFrame, p: WindowsParams) -> Columns:
    # log1p tames volume's heavy right tail so one burst does not dominate the window.
    volume = _log1p(bars["volume"])
    out: Columns = {}
    for w in map(int, p.windows):
        mean = volume.rolling(w, min_periods=w).mean()
        std = volume.rolling(w, min_periods=w).std()
        z = (volume - mean) / std
        out[f"volume_z_{w}"] = z.mask(std.eq(0), 0.0)  # constant volume: at its mean
    return out


# the params are FeaturesConfig's attribute of the same name, so each takes its own type
FEATURES: dict[str, Callable[[pd.DataFrame, Any], Columns]] = {
    "log_return": _log_return,
    "volatility": _volatility,
    "rsi": _rsi,
    "macd": _macd,
    "bollinger": _bollinger,
    "atr": _atr,
    "volume_z": _volume_z,
}


def feature_columns(cfg: FeaturesConfig, timestamps: pd.Series | None = None) -> list[str]:
    """Names of the raw feature columns `compute_features` adds, in output order.

    Windows given as durations are named by their bars, so they need the bars' `timestamps`.
    """
    cfg = resolve_windows(cfg, timestamps)
    tiny = pd.DataFrame({c: [1.0, 1.0] for c in INPUT_BAR_COLUMNS[1:]})
    return [col for name in cfg.include for col in FEATURES[name](tiny, getattr(cfg, name))]


def window_bars(cfg: FeaturesConfig) -> dict[str, list[int]]:
    """The resolved windows of the selected features, in bars (for reports)."""
    fields = {"log_return": "horizons", **{name: "windows" for name in _WINDOWED}}
    out: dict[str, list[int]] = {}
    for name in cfg.include:
        section = getattr(cfg, name)
        if name == "macd":
            out[name] = [section.fast, section.slow, section.signal]
        else:
            out[name] = [int(w) for w in getattr(section, fields[name])]
    return out


def longest_window(cfg: FeaturesConfig, timestamps: pd.Series | None = None) -> tuple[str, int]:
    """The config key of the selected feature with the longest look-back, and its bars."""
    cfg = resolve_windows(cfg, timestamps)
    lookbacks = {
        "log_return": ("log_return.horizons", max(map(int, cfg.log_return.horizons)) + 1),
        "macd": ("macd.slow", cfg.macd.slow + cfg.macd.signal - 1),
        "volatility": ("volatility.windows", max(map(int, cfg.volatility.windows)) + 1),
    }
    candidates = [
        lookbacks[name]
        if name in lookbacks
        else (f"{name}.windows", max(map(int, getattr(cfg, name).windows)) + 1)
        for name in cfg.include
    ]
    return max(candidates, key=lambda item: item[1])


def compute_features(bars: pd.DataFrame | pl.DataFrame, cfg: FeaturesConfig) -> pd.DataFrame:
    """The bars plus the selected raw feature columns, warm-up rows dropped.

    `bars` follows the bar contract (qraptor.data.BAR_COLUMNS; `vwap` and `trades` are
    carried through when present). Windows given as durations are counted on the bars'
    timestamps first (`resolve_windows`). ``result.attrs["features"]`` holds the feature
    column names, the number of warm-up rows dropped and the first kept timestamp.
    """
    frame = bars.to_pandas() if isinstance(bars, pl.DataFrame) else bars
    frame = frame.reset_index(drop=True)
    _validate_bars(frame)
    cfg = resolve_windows(cfg, frame["timestamp"])
    key, bars_needed = longest_window(cfg)

    columns: Columns = {}
    for name in cfg.include:
        columns.update(FEATURES[name](frame, getattr(cfg, name)))
    values = pd.DataFrame(columns, index=frame.index).replace([np.inf, -np.inf], np.nan)

    defined = values.notna().all(axis=1).to_numpy()
    if not defined.any():
        raise DataError(
            None,
            f"only {len(frame)} bars: the feature warm-up takes all of them (100%): "
            f"features.{key} needs about {bars_needed}; use more data or shorter windows",
            rule="features_warmup",
        )
    warmup = int(defined.argmax())
    undefined_later = np.flatnonzero(~defined[warmup:]) + warmup
    if len(undefined_later):
        raise DataError(
            None,
            f"{len(undefined_later)} bars after warm-up have an undefined feature "
            "(non-finite prices or volume?)",
            rule="features_defined",
            rows=[str(frame["timestamp"].iloc[i]) for i in undefined_later[:5]],
        )
    result = pd.concat([frame, values], axis=1).iloc[warmup:].reset_index(drop=True)
    result.attrs["features"] = {
        "columns": list(values.columns),
        "warmup_rows": warmup,
        "first_timestamp": str(result["timestamp"].iloc[0]),
        "config": asdict(cfg),  # windows in bars: the settings a trained agent is used with
    }
    log.debug(  # said by the features stage; a backtest or a served call makes them often
        "features: %d bars in, %d warm-up rows dropped, %d out, %d feature columns",
        len(frame), warmup, len(result), values.shape[1],
    )  # fmt: skip
    return result


def _validate_bars(frame: pd.DataFrame) -> None:
    missing = [c for c in INPUT_BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            None,
            f"bars lack column(s) {missing}; have {list(frame.columns)}",
            rule="bar_columns",
        )
    nulls = frame[list(INPUT_BAR_COLUMNS)].isna().any(axis=1).to_numpy()
    if nulls.any():
        _raise_rows(frame, nulls, "bars have null values", "bars_non_null")
    prices = frame[["open", "high", "low", "close"]].to_numpy(dtype="float64")
    bad_price = ~(prices > 0).all(axis=1)
    if bad_price.any():
        _raise_rows(frame, bad_price, "bars have non-positive prices", "positive_prices")
    not_increasing = (frame["timestamp"].diff() <= pd.Timedelta(0)).to_numpy()
    if not_increasing.any():
        _raise_rows(
            frame, not_increasing, "timestamps are not strictly increasing", "timestamps_increasing"
        )


def _raise_rows(frame: pd.DataFrame, mask: np.ndarray, problem: str, rule: str) -> None:
    rows = np.flatnonzero(mask)
    raise DataError(
        None,
        f"{problem} ({len(rows)} rows)",
        rule=rule,
        rows=[f"row {i}: {frame.iloc[i].to_dict()}" for i in rows[:5]],
    )
