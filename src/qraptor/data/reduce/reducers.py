"""Streaming bar reducers: feed frames in time order, get the same bars whatever the cut.

A reducer turns each input frame into *partial bars* (one row per bar the frame touches,
carrying the sums needed to merge: ``_pv`` = Σ price·size, ``_psum`` = Σ price, ``_n`` =
number of inputs) and holds back the last partial bar, because the next frame may continue
it. When the next frame starts in the same bar the two partials are merged exactly: open
from the earlier, close from the later, high max, low min, sums added. Input is in time
order, so only that one bar can straddle a cut, and bar membership never depends on where
the cuts fall:

* time bars: a tick belongs to the window ``truncate(timestamp, freq)`` (intraday), or of
  its local calendar date (day-or-longer bars, `Calendar`);
* information bars: a tick belongs to bar ``floor(C_before / threshold)``, where
  ``C_before`` is the cumulative quantity before it, carried from frame to frame.

The in-memory functions in `reduce.py` feed one frame; the folder reader feeds many.
Float sums (volume, Σ price·size) can differ in the last bit between cuts, because
addition is not associative; everything else (membership, open/high/low/close, trades)
is identical.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from qraptor.core.errors import DataError
from qraptor.data.columns import BAR_COLUMNS

if TYPE_CHECKING:
    from polars._typing import SchemaDict

TIMESTAMP_DTYPE = pl.Datetime("ns", "UTC")
PARTIAL_SCHEMA: SchemaDict = {
    "_bar": pl.Int64,
    "timestamp": TIMESTAMP_DTYPE,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
    "_pv": pl.Float64,
    "_psum": pl.Float64,
    "_n": pl.Int64,
    "trades": pl.Int64,
}

# Merging partial bars of the same `_bar`, rows in time order.
_MERGE_AGGS = (
    pl.col("timestamp").first(),
    pl.col("open").first(),
    pl.col("high").max(),
    pl.col("low").min(),
    pl.col("close").last(),
    pl.col("volume").sum(),
    pl.col("_pv").sum(),
    pl.col("_psum").sum(),
    pl.col("_n").sum(),
    pl.col("trades").sum(),
)


def empty_bars() -> pl.DataFrame:
    """A bar frame with no rows and the contract's column types."""
    return finish_bars(pl.DataFrame(schema=PARTIAL_SCHEMA))


def finish_bars(partials: pl.DataFrame) -> pl.DataFrame:
    """Final bar columns from merged partials.

    VWAP is Σ price·size / Σ size; a bar with zero volume (quotes without sizes) falls back
    to the plain mean of its prices, so VWAP is always a price inside [low, high].
    """
    vwap = (
        pl.when(pl.col("volume") > 0)
        .then(pl.col("_pv") / pl.col("volume"))
        .otherwise(pl.col("_psum") / pl.col("_n"))
    )
    return partials.with_columns(vwap.alias("vwap")).select(BAR_COLUMNS)


def to_utc(timestamps: pl.Series, path: Path | None) -> pl.Series:
    """Timestamps as ns UTC; naive timestamps are refused (their zone is unknown here)."""
    dtype = timestamps.dtype
    if not isinstance(dtype, pl.Datetime):
        raise DataError(path, f"column 'timestamp' is {dtype}, expected a datetime", rule="dtype")
    if dtype.time_zone is None:
        raise DataError(
            path,
            "timestamps have no time zone; ingest parses them to UTC first",
            rule="timezone",
        )
    if dtype != TIMESTAMP_DTYPE:
        timestamps = timestamps.dt.convert_time_zone("UTC").dt.cast_time_unit("ns")
    return timestamps


class BarReducer:
    """Base: validation, carry of the open bar, and the finished-bar list.

    Subclasses implement `_partials(frame, ...)`, a lazy query of the partial bars of one
    frame, whose `_bar` keys are non-decreasing and continue the keys of earlier frames.
    """

    required: tuple[str, ...] = ("timestamp",)

    def __init__(self) -> None:
        self._done: list[pl.DataFrame] = []
        self._carry: pl.DataFrame | None = None
        self._last_ts: int | None = None
        self.rows_in = 0

    def feed(self, frame: pl.DataFrame, *, path: Path | None = None, first_row: int = 0) -> None:
        """Add the next frame (rows later than or equal in time to everything fed before).

        `path` and `first_row` (0-based offset of the frame inside that file) only serve to
        name the offending file and row in errors.
        """
        if frame.height == 0:
            return
        frame = self._checked(frame, path, first_row)
        query = self._partials(frame, path, first_row)  # lazy: polars plans the whole step
        partials = query.select(list(PARTIAL_SCHEMA)).cast(PARTIAL_SCHEMA).collect()  # type: ignore[arg-type]
        self.rows_in += frame.height
        if self._carry is not None:
            if self._carry.item(0, "_bar") == partials.item(0, "_bar"):
                head = merge_partials(pl.concat([self._carry, partials.head(1)]))
                partials = pl.concat([head, partials.slice(1)])
            else:
                self._done.append(self._carry)
        self._done.append(partials.slice(0, partials.height - 1))
        self._carry = partials.tail(1)

    def result(self) -> pl.DataFrame:
        """All bars fed so far (the last one may still be incomplete)."""
        pieces = [*self._done, *([self._carry] if self._carry is not None else [])]
        if not pieces:
            return empty_bars()
        return finish_bars(pl.concat(pieces))

    def _checked(self, frame: pl.DataFrame, path: Path | None, first_row: int) -> pl.DataFrame:
        missing = [c for c in self.required if c not in frame.columns]
        if missing:
            raise DataError(path, f"missing column(s) {missing}", rule="columns")
        nulls = [c for c in self.required if frame[c].null_count()]
        if nulls:
            is_null = pl.any_horizontal(pl.col(nulls).is_null())
            row = int(frame.select(is_null.arg_true().first()).item())
            raise DataError(
                path,
                f"null values in {nulls}",
                rule="non_null",
                rows=[describe_row(frame, row, first_row)],
            )
        frame = frame.with_columns(to_utc(frame["timestamp"], path))
        ts = frame["timestamp"].dt.epoch("ns")
        backwards = (ts.diff() < 0).arg_true()
        if len(backwards):
            row = int(backwards[0])
            raise DataError(
                path,
                "timestamps go backwards; reduce needs rows in time order (run clean first)",
                rule="sorted_by_time",
                rows=[describe_row(frame, r, first_row) for r in (row - 1, row)],
            )
        if self._last_ts is not None and ts[0] < self._last_ts:
            raise DataError(
                path,
                "this chunk starts before the previous one ended; inputs must be in time order",
                rule="sorted_by_time",
                rows=[describe_row(frame, 0, first_row)],
            )
        self._last_ts = int(ts[-1])
        return frame

    def _partials(self, frame: pl.DataFrame, path: Path | None, first_row: int) -> pl.LazyFrame:
        raise NotImplementedError


def merge_partials(partials: pl.DataFrame) -> pl.DataFrame:
    """Merge partial bars that share a `_bar` key (rows in time order)."""
    return partials.group_by("_bar", maintain_order=True).agg(*_MERGE_AGGS)


def describe_row(frame: pl.DataFrame, row: int, first_row: int) -> str:
    """'row 42: timestamp=..., price=...' (1-based, with lineage when the frame has it)."""
    values = ", ".join(f"{k}={v}" for k, v in frame.row(row, named=True).items())
    return f"row {first_row + row + 1}: {values}"


def _tick_aggs() -> list[pl.Expr]:
    price, size = pl.col("price"), pl.col("size")
    return [
        pl.col("timestamp").first(),
        price.first().alias("open"),
        price.max().alias("high"),
        price.min().alias("low"),
        price.last().alias("close"),
        size.sum().alias("volume"),
        (price * size).sum().alias("_pv"),
        price.sum().alias("_psum"),
        pl.len().cast(pl.Int64).alias("_n"),
        pl.len().cast(pl.Int64).alias("trades"),
    ]


DAY_NS = 86_400 * 1_000_000_000
CALENDAR_UNITS = frozenset({"d", "w", "mo", "q", "y"})
_TERM_UNIT = re.compile(r"\d+([a-z]+)")


def is_calendar(every: str) -> bool:
    """True for a polars duration of whole days, weeks, months, quarters or years."""
    units = _TERM_UNIT.findall(every)
    return bool(units) and set(units) <= CALENDAR_UNITS


@dataclass(frozen=True)
class Calendar:
    """How day-or-longer windows find each row's calendar date.

    timezone: the exchange's zone; an instant's date is its local date there, so a window
              starts at local midnight (of the day, the Monday, the 1st) whatever the
              daylight-saving offset that day.
    dates:    the timestamps are calendar-date labels (every one at 00:00 UTC, as ingest
              writes date-only rows), whose date is the UTC date itself.
    """

    timezone: str = "UTC"
    dates: bool = False

    def window(self, every: str) -> pl.Expr:
        """The bar label of each row: D 00:00 UTC, D the local date of the window start."""
        stamp = pl.col("timestamp")
        if not self.dates and self.timezone != "UTC":
            stamp = stamp.dt.convert_time_zone(self.timezone)
        day = stamp.dt.date().cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")
        return day.dt.truncate(every)


def window_start(every: str, calendar: Calendar | None) -> pl.Expr:
    """Label of the time window of each row (a Datetime(ns, UTC) expression).

    Intraday durations are aligned to the Unix epoch in UTC; whole days, weeks, months,
    quarters and years to the exchange's calendar (`Calendar.window`) when one is given.
    """
    if calendar is not None and is_calendar(every):
        return calendar.window(every)
    return pl.col("timestamp").dt.truncate(every)


def all_calendar_dates(timestamps: pl.Expr) -> pl.Expr:
    """True when every timestamp is at 00:00 UTC: date labels, not instants."""
    return (timestamps.dt.epoch("ns") % DAY_NS == 0).all()


class TimeBarReducer(BarReducer):
    """Ticks to time bars: left-closed [t, t+freq), labelled t, empty windows omitted.

    With a `calendar`, day-or-longer bars follow the exchange's calendar (see `Calendar`).
    """

    required = ("timestamp", "price", "size")

    def __init__(self, every: str, calendar: Calendar | None = None) -> None:
        super().__init__()
        self.every = every
        self.calendar = calendar

    def _partials(self, frame: pl.DataFrame, path: Path | None, first_row: int) -> pl.LazyFrame:
        window = window_start(self.every, self.calendar)
        keyed = frame.lazy().with_columns(window.dt.epoch("ns").alias("_bar").set_sorted())
        partials = keyed.group_by("_bar", maintain_order=True).agg(_tick_aggs())
        return partials.with_columns(_window_start())


class InformationBarReducer(BarReducer):
    """Ticks to tick, volume or dollar bars.

    With q_i the tick's quantity (1, size, or price·size) and C_before(i) = Σ_{j<i} q_j over
    the whole input, tick i goes to bar floor(C_before(i) / threshold). A bar therefore
    closes on the tick whose quantity makes the cumulative total reach the next multiple of
    the threshold; the overflow counts towards the next bar (no reset), and one huge tick
    can jump over a multiple (that bar number then has no ticks and no row). C is summed
    left to right in float64 across frames, so it is the same number however the input is
    cut. The bar is labelled with its first tick's timestamp.
    """

    required = ("timestamp", "price", "size")

    def __init__(self, kind: str, threshold: float) -> None:
        super().__init__()
        self.kind = kind
        self.threshold = threshold
        self._cum: float | int = 0 if kind == "tick" else 0.0

    def _partials(self, frame: pl.DataFrame, path: Path | None, first_row: int) -> pl.LazyFrame:
        bar_ids = self._bar_ids(frame, path, first_row)
        keyed = frame.with_columns(pl.Series("_bar", bar_ids, dtype=pl.Int64).set_sorted()).lazy()
        return keyed.group_by("_bar", maintain_order=True).agg(_tick_aggs())

    def _bar_ids(self, frame: pl.DataFrame, path: Path | None, first_row: int) -> np.ndarray:
        n = frame.height
        if self.kind == "tick":
            start = int(self._cum)
            self._cum = start + n
            return (np.arange(start, start + n, dtype=np.int64)) // int(self.threshold)
        size = frame["size"].to_numpy()
        quantity = size * frame["price"].to_numpy() if self.kind == "dollar" else size.copy()
        bad = ~np.isfinite(quantity) | (quantity < 0)
        if bad.any():
            raise DataError(
                path,
                f"{self.kind} bars need finite, non-negative tick quantities",
                rule="quantity",
                rows=[describe_row(frame, int(np.argmax(bad)), first_row)],
            )
        quantity[0] += self._cum  # summing left to right from the carried total
        cumulative = np.cumsum(quantity)
        before = np.empty_like(cumulative)
        before[0] = self._cum
        before[1:] = cumulative[:-1]
        self._cum = float(cumulative[-1])
        return np.floor(before / self.threshold).astype(np.int64)


class CoarserBarReducer(BarReducer):
    """Bars to coarser time bars, each input bar assigned by its start time.

    VWAP is the volume-weighted mean of the input VWAPs (of the typical price (H+L+C)/3 when
    the input has no `vwap`); trades is the sum of input `trades` or else the bar count.
    With a `calendar`, day-or-longer bars follow the exchange's calendar (see `Calendar`).
    """

    required = ("timestamp", "open", "high", "low", "close", "volume")

    def __init__(self, every: str, calendar: Calendar | None = None) -> None:
        super().__init__()
        self.every = every
        self.calendar = calendar

    def _partials(self, frame: pl.DataFrame, path: Path | None, first_row: int) -> pl.LazyFrame:
        typical = (pl.col("high") + pl.col("low") + pl.col("close")) / 3
        price = pl.coalesce(pl.col("vwap"), typical) if "vwap" in frame.columns else typical
        has_trades = "trades" in frame.columns
        trades = pl.col("trades").fill_null(1).sum() if has_trades else pl.len()
        window = window_start(self.every, self.calendar).dt.epoch("ns").alias("_bar")
        keyed = frame.lazy().with_columns(window.set_sorted())
        partials = keyed.group_by("_bar", maintain_order=True).agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
            (price * pl.col("volume")).sum().alias("_pv"),
            price.sum().alias("_psum"),
            pl.len().alias("_n"),
            trades.alias("trades"),
        )
        return partials.with_columns(_window_start())


def _window_start() -> pl.Expr:
    return pl.from_epoch("_bar", "ns").dt.replace_time_zone("UTC").alias("timestamp")
