"""Adjusted prices: make open, high and low follow the same adjustment as the close.

A vendor's adjusted close (dividends and splits) next to raw open/high/low breaks OHLC on
thousands of bars, and dropping them drops the data. `clean.adjust.method` says how to
make every bar consistent (bars only; the columns come from `data.columns`):

``adj_close``  the file has the raw close and the vendor's adjusted close
               (`data.columns.adj_close`). Each bar's open, high, low (and vwap) are
               scaled by its own factor adj_close / close, and close becomes adj_close.
               This only makes each bar consistent: the *levels* are the vendor's, and a
               backward-adjusted series is scaled by dividends and splits paid *after* the
               bar (look-ahead in the price level; returns, ratios and every bar's shape
               are unaffected). Volume stays as given (the factor mixes dividends and
               splits, which cannot be told apart; Yahoo's volume is split-adjusted already).
``factors``    the file has prices as traded and per-bar corporate actions:
               `data.columns.split` (ratio on its ex-date, 4.0 for 4-for-1, 0.5 for
               1-for-2; 0, 1 or empty = none) and/or `data.columns.dividend` (cash per
               share on its ex-date, in the bar's price units; 0 or empty = none). Prices
               are *forward*-adjusted, which is causal: the first bar stays as traded and
               bar t is multiplied by the product over actions up to t of
               split ratio x C/(C - D) (C the previous close in post-split units, D the
               dividend), volume divided by the splits so far. The value of bar t depends
               on nothing after t; returns equal those of the vendor's adjusted close.
               Yahoo/yfinance prices are split-adjusted already: map only `dividend`
               then (a split whose prices do not drop by its ratio is refused).

The adjustment runs in `clean` (before the OHLC checks for ``adj_close``; after ordering
and de-duplication for ``factors``, so an action is applied once, in time order, with the
carry across batches making the result independent of the batch size), and the cleaning
report records the method, the bars adjusted and the factor range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from qraptor.core.errors import ConfigError, DataError
from qraptor.data.clean.schema_errors import ISO_NS, file_name
from qraptor.data.columns import ADJUSTMENT_COLUMNS

EVENT_COLUMNS = ("split", "dividend")
PRICE_COLUMNS = ("open", "high", "low", "close", "vwap")
_CLEAR_SPLIT = math.log(1.5)  # splits at least this large must show in the prices


@dataclass
class AdjustmentTally:
    """What the adjustment did, for the cleaning report."""

    method: str
    bars: int = 0  # bars that went through the adjustment
    adjusted: int = 0  # bars whose prices changed (factor != 1)
    factor_min: float = math.inf
    factor_max: float = -math.inf
    splits: int = 0
    dividends: int = 0
    ignored: list[str] = field(default_factory=list)  # mapped columns the method does not use

    def observe(self, factors: np.ndarray) -> None:
        if len(factors) == 0:
            return
        self.bars += len(factors)
        self.adjusted += int(np.count_nonzero(factors != 1.0))
        self.factor_min = min(self.factor_min, float(factors.min()))
        self.factor_max = max(self.factor_max, float(factors.max()))

    def to_metrics(self) -> dict[str, Any]:
        """Numbers only (DVC metrics)."""
        empty = self.bars == 0
        return {
            "bars_adjusted": self.adjusted,
            "factor_min": 1.0 if empty else round(self.factor_min, 12),
            "factor_max": 1.0 if empty else round(self.factor_max, 12),
            "splits": self.splits,
            "dividends": self.dividends,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, **self.to_metrics(), "ignored_columns": self.ignored}

    def summary(self) -> str:
        m = self.to_metrics()
        text = (
            f"adjusted ({self.method}): {m['bars_adjusted']} of {self.bars} bars, factor "
            f"{m['factor_min']:.6g}..{m['factor_max']:.6g}"
        )
        if self.method == "factors":
            text += f", {self.splits} split(s), {self.dividends} dividend(s)"
        return text


def check_columns(columns: Sequence[str], data_kind: str, method: str, source: Any) -> None:
    """Refuse a method whose columns the data does not have, naming the keys to set."""
    if method == "none":
        return
    if data_kind != "bars":
        raise ConfigError("clean.adjust.method", f"'{method}' adjusts bars; the data are ticks")
    if method == "adj_close" and "adj_close" not in columns:
        raise ConfigError(
            "clean.adjust.method",
            f"'adj_close' needs the adjusted close next to the raw close, but {source} has "
            "no adj_close column: map it in data.columns (e.g. adj_close: Adj Close)",
        )
    if method == "factors" and not set(EVENT_COLUMNS) & set(columns):
        raise ConfigError(
            "clean.adjust.method",
            f"'factors' needs corporate actions, but {source} has no split or dividend "
            "column: map them in data.columns (e.g. split: Stock Splits, dividend: Dividends)",
        )


def prepare(frame: pl.DataFrame, method: str, tally: AdjustmentTally) -> pl.DataFrame:
    """Keep only the adjustment columns `method` uses; empty actions mean none (0)."""
    used = {"none": (), "adj_close": ("adj_close",), "factors": EVENT_COLUMNS}[method]
    unused = [c for c in ADJUSTMENT_COLUMNS if c in frame.columns and c not in used]
    for name in unused:
        if name not in tally.ignored:
            tally.ignored.append(name)
    frame = frame.drop(unused)
    events = [c for c in EVENT_COLUMNS if c in frame.columns]
    return frame.with_columns(pl.col(c).fill_nan(0.0).fill_null(0.0) for c in events)


def scale_by_adj_close(frame: pl.DataFrame, tally: AdjustmentTally) -> pl.DataFrame:
    """Method ``adj_close``: each bar scaled by adj_close / close; adj_close dropped."""
    factor = pl.col("adj_close") / pl.col("close")
    prices = [c for c in PRICE_COLUMNS if c in frame.columns and c != "close"]
    out = frame.with_columns(_factor=factor).with_columns(
        *[pl.col(c) * pl.col("_factor") for c in prices], pl.col("adj_close").alias("close")
    )
    tally.observe(out["_factor"].to_numpy())
    return out.drop("_factor", "adj_close")


class FactorAdjuster:
    """Method ``factors``: forward (causal) adjustment from split and dividend columns.

    Feed time-ordered, de-duplicated bars; carries the running factors and the last raw
    close across batches, so the result does not depend on where batches are cut.
    """

    def __init__(self, tally: AdjustmentTally, files: Sequence[str] = ()) -> None:
        self.tally = tally
        self.files = list(files)
        self.price_factor = 1.0
        self.split_factor = 1.0
        self.prev_close: float | None = None

    def push(self, frame: pl.DataFrame) -> pl.DataFrame:
        events = [c for c in EVENT_COLUMNS if c in frame.columns]
        if frame.height == 0:
            return frame.drop(events)
        close = frame["close"].to_numpy()
        n = len(close)
        ratio = frame["split"].to_numpy() if "split" in events else np.zeros(n)
        ratio = np.where(ratio > 0, ratio, 1.0)
        dividend = frame["dividend"].to_numpy() if "dividend" in events else np.zeros(n)
        prev = np.empty(n)
        prev[0] = np.nan if self.prev_close is None else self.prev_close
        prev[1:] = close[:-1]
        first = np.isnan(prev)  # the data's first bar: as traded, whatever happened before
        self._refuse_bad_actions(frame, ratio, dividend, prev, first)
        before = prev / ratio  # previous close in the bar's (post-split) share units
        with np.errstate(divide="ignore", invalid="ignore"):
            div_factor = np.where(dividend > 0, before / (before - dividend), 1.0)
        step = np.where(first, 1.0, ratio * div_factor)
        split_step = np.where(first, 1.0, ratio)
        self.tally.splits += int(np.count_nonzero((ratio != 1.0) & ~first))
        self.tally.dividends += int(np.count_nonzero((dividend > 0) & ~first))
        factor = self.price_factor * np.cumprod(step)
        splits = self.split_factor * np.cumprod(split_step)
        self.price_factor, self.split_factor = float(factor[-1]), float(splits[-1])
        self.prev_close = float(close[-1])
        self.tally.observe(factor)
        prices = [c for c in PRICE_COLUMNS if c in frame.columns]
        f, s = pl.Series(factor), pl.Series(splits)
        return frame.with_columns(*[pl.col(c) * f for c in prices], pl.col("volume") / s).drop(
            events
        )

    def _refuse_bad_actions(
        self,
        frame: pl.DataFrame,
        ratio: np.ndarray,
        dividend: np.ndarray,
        prev: np.ndarray,
        first: np.ndarray,
    ) -> None:
        bad_values = ~np.isfinite(ratio) | ~np.isfinite(dividend) | (dividend < 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            too_large = ~first & (dividend > 0) & (dividend >= prev / ratio)
            jump = np.log(prev / frame["open"].to_numpy())  # overnight move of the raw prices
            clear = ~first & (np.abs(np.log(ratio)) >= _CLEAR_SPLIT)
            absent = clear & (np.abs(jump - np.log(ratio)) > np.abs(jump))
        for mask, problem, rule in (
            (bad_values, "split ratios and dividends must be finite and >= 0", "bad_action"),
            (too_large, "a dividend is not smaller than the previous close", "bad_action"),
            (
                absent,
                "the prices do not drop at these splits: they are split-adjusted already "
                "(Yahoo/yfinance prices are); do not map data.columns.split for them, or "
                "write the prices as traded",
                "split_adjusted_prices",
            ),
        ):
            if mask.any():
                raise DataError(
                    self._source(frame, mask), problem, rule=rule, rows=self._rows(frame, mask)
                )

    def _source(self, frame: pl.DataFrame, mask: np.ndarray) -> str | Path | None:
        if "src_file" not in frame.columns:
            return None
        return file_name(int(frame["src_file"].to_numpy()[mask][0]), self.files)

    def _rows(self, frame: pl.DataFrame, mask: np.ndarray) -> list[str]:
        shown = frame.filter(pl.Series(mask)).head(5)
        lines = []
        for row in shown.iter_rows(named=True):
            when = pl.Series([row["timestamp"]]).dt.to_string(ISO_NS)[0]
            where = f"row {row['src_row']}" if "src_row" in row else "row"
            values = ", ".join(
                f"{k}={row[k]}" for k in ("open", "close", *EVENT_COLUMNS) if k in row
            )
            lines.append(f"{where} at {when}: {values}")
        return lines
