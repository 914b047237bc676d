"""Row rules of stage `clean`: conform types, drop bad values, repair or refuse OHLC.

These rules judge each row alone, so they give the same result in any order and any batch
size; rules that look at neighbours (order, duplicates, outliers, gaps) are in
`clean_sequence.py`. Every function takes and returns frames that carry the lineage
columns ``src_file``/``src_row`` so that reports name the original file and row.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from qraptor.core.errors import DataError
from qraptor.data.clean.adjust import prepare, scale_by_adj_close
from qraptor.data.clean.config import CleanConfig
from qraptor.data.clean.report import CleanReport
from qraptor.data.clean.schemas import TIMESTAMP_DTYPE
from qraptor.data.columns import (
    ADJUSTMENT_COLUMNS,
    INPUT_BAR_COLUMNS,
    LINEAGE_COLUMNS,
    QUOTE_COLUMNS,
    TICK_COLUMNS,
)

REQUIRED = {"ticks": TICK_COLUMNS, "bars": INPUT_BAR_COLUMNS}
OPTIONAL = {"ticks": QUOTE_COLUMNS, "bars": ("vwap", "trades", *ADJUSTMENT_COLUMNS)}
NO_FILE = -1  # src_file of rows that came without lineage (a frame built in memory)


def value_columns(frame: pl.DataFrame) -> list[str]:
    """The data columns of `frame` other than the timestamp (and lineage)."""
    return [c for c in frame.columns if c not in (*LINEAGE_COLUMNS, "timestamp")]


def text(*parts: str | pl.Expr) -> pl.Expr:
    """Concatenate literal strings and expressions (nulls shown as 'null') into one string.

    (Built on concat_str: polars 2.1's `pl.format` panics on some filtered string columns.)
    """
    exprs = [
        pl.lit(part) if isinstance(part, str) else part.cast(pl.String).fill_null("null")
        for part in parts
    ]
    return pl.concat_str(exprs)


def values_detail(columns: list[str]) -> pl.Expr:
    """'price=1.5, size=2.0' for report examples."""
    parts: list[str | pl.Expr] = []
    for i, column in enumerate(columns):
        parts += [f"{', ' if i else ''}{column}=", pl.col(column)]
    return text(*parts)


def conform(
    frame: pl.DataFrame,
    data_kind: str,
    *,
    source: str | Path | None = None,
    row_offset: int = 0,
) -> pl.DataFrame:
    """Bring `frame` to the stage contract: known columns, float64 values, ns UTC time.

    Safe, lossless conversions only: numbers to float64, any tz-aware timestamp to
    timestamp[ns, UTC] (same instants). Missing columns, unknown columns, naive timestamps
    or text where numbers belong are refused by name. Frames without lineage get
    ``src_file`` = -1 and ``src_row`` = row_offset + 1-based position, so examples still
    point at a row.
    """
    if data_kind not in REQUIRED:
        raise ValueError(f"data_kind must be 'ticks' or 'bars', not {data_kind!r}")
    required, optional = REQUIRED[data_kind], OPTIONAL[data_kind]
    missing = [c for c in required if c not in frame.columns]
    unknown = [c for c in frame.columns if c not in (*required, *optional, *LINEAGE_COLUMNS)]
    if missing or unknown:
        problem = f"{data_kind} need columns {list(required)} (optional {list(optional)})"
        details = [f"missing {missing}"] * bool(missing) + [f"unexpected {unknown}"] * bool(unknown)
        raise DataError(source, f"{problem}: {'; '.join(details)}", rule="schema")
    columns = [*required, *(c for c in optional if c in frame.columns)]
    exprs = [_timestamp(frame, source)]
    for name in columns[1:]:
        exprs.append(_number(frame, name, pl.Int64 if name == "trades" else pl.Float64, source))
    if "src_row" in frame.columns:
        exprs.append(pl.col("src_file").cast(pl.Int32) if "src_file" in frame.columns
                     else pl.lit(NO_FILE, pl.Int32).alias("src_file"))  # fmt: skip
        exprs.append(pl.col("src_row").cast(pl.Int64))
    else:
        exprs.append(pl.lit(NO_FILE, pl.Int32).alias("src_file"))
        exprs.append(pl.int_range(row_offset + 1, row_offset + frame.height + 1, dtype=pl.Int64)
                     .alias("src_row"))  # fmt: skip
    return frame.select(exprs)


def conform_order_columns(
    frame: pl.DataFrame, *, source: str | Path | None = None, row_offset: int = 0
) -> pl.DataFrame:
    """Timestamp and lineage only (what the arrival-order pass reads), conformed."""
    lineage = [c for c in LINEAGE_COLUMNS if c in frame.columns]
    if "src_row" not in lineage:
        frame = frame.with_columns(
            src_row=pl.int_range(row_offset + 1, row_offset + frame.height + 1, dtype=pl.Int64)
        )
    if "src_file" not in lineage:
        frame = frame.with_columns(src_file=pl.lit(NO_FILE, pl.Int32))
    return frame.select(
        _timestamp(frame, source),
        pl.col("src_file").cast(pl.Int32),
        pl.col("src_row").cast(pl.Int64),
    )


def _timestamp(frame: pl.DataFrame, source: str | Path | None) -> pl.Expr:
    dtype = frame.schema["timestamp"]
    if not isinstance(dtype, pl.Datetime):
        raise DataError(source, f"column 'timestamp' has type {dtype}, expected a timestamp "
                        "with time zone", rule="schema")  # fmt: skip
    if dtype.time_zone is None:
        raise DataError(source, "column 'timestamp' has no time zone; qraptor keeps time in UTC "
                        "(set the data timezone at ingest)", rule="schema")  # fmt: skip
    return pl.col("timestamp").dt.convert_time_zone("UTC").cast(TIMESTAMP_DTYPE)


def _number(
    frame: pl.DataFrame, name: str, target: type[pl.DataType], source: str | Path | None
) -> pl.Expr:
    dtype = frame.schema[name]
    ok = dtype.is_integer() if target == pl.Int64 else dtype.is_numeric()
    if not ok and dtype != pl.Null:
        raise DataError(source, f"column '{name}' has type {dtype}, expected numbers",
                        rule="schema")  # fmt: skip
    return pl.col(name).cast(target)


def drop_bad_rows(
    frame: pl.DataFrame, data_kind: str, cfg: CleanConfig, report: CleanReport
) -> pl.DataFrame:
    """Apply the row rules: missing values, non-positive prices, negative sizes, OHLC.

    Bars are first reduced to the adjustment columns `clean.adjust.method` uses; with
    ``adj_close`` each bar is scaled before its OHLC is checked (see `clean/adjust.py`).
    """
    if data_kind == "bars":
        frame = prepare(frame, cfg.adjust.method, report.adjustment)
    values = value_columns(frame)
    floats = [c for c in values if frame.schema[c] == pl.Float64]
    missing = pl.any_horizontal(
        pl.col("timestamp").is_null(),
        *[pl.col(c).is_null() for c in values],
        *[~pl.col(c).is_finite() for c in floats],
    )
    frame = _drop(frame, missing, "missing_value", values_detail(values), report)
    if data_kind == "ticks":
        prices = ["price", *(c for c in QUOTE_COLUMNS if c in frame.columns)]
        frame = _drop(frame, pl.any_horizontal(pl.col(c) <= 0 for c in prices),
                      "nonpositive_price", values_detail(values), report)  # fmt: skip
        return _drop(frame, pl.col("size") < 0, "negative_size", values_detail(values), report)
    prices = ["open", "high", "low", "close"]
    prices += [c for c in ("vwap", "adj_close") if c in frame.columns]
    frame = _drop(frame, pl.any_horizontal(pl.col(c) <= 0 for c in prices),
                  "nonpositive_price", values_detail(values), report)  # fmt: skip
    negative = pl.col("volume") < 0
    if "trades" in frame.columns:
        negative = negative | (pl.col("trades") < 0)
    frame = _drop(frame, negative, "negative_volume", values_detail(values), report)
    if "adj_close" in frame.columns:
        frame = scale_by_adj_close(frame, report.adjustment)
    return repair_ohlc(frame, cfg, report)


def repair_ohlc(frame: pl.DataFrame, cfg: CleanConfig, report: CleanReport) -> pl.DataFrame:
    """OHLC consistency of bars: repair float rounding, refuse (or drop) real violations.

    Safe repair: a high below max(open, close), or a low above min(open, close), by at most
    `ohlc_tolerance` of the price is float rounding from an upstream conversion; high is
    raised to max(open, close) and low lowered to min(open, close) (and vwap clipped into
    [low, high]). Anything larger means the bar is wrong and no value can be trusted: the
    stage refuses it (DataError naming the bar) or, if configured, drops it and reports it.
    """
    tol = cfg.bars.ohlc_tolerance
    top = pl.max_horizontal("open", "close")
    bottom = pl.min_horizontal("open", "close")
    high_short = top - pl.col("high")
    low_over = pl.col("low") - bottom
    violation = (high_short > tol * top) | (low_over > tol * bottom)
    rounding = (high_short > 0) | (low_over > 0)
    if "vwap" in frame.columns:
        fixed_high, fixed_low = pl.max_horizontal("high", top), pl.min_horizontal("low", bottom)
        vwap = pl.col("vwap")
        violation = violation | (vwap > fixed_high * (1 + tol)) | (vwap < fixed_low * (1 - tol))
        rounding = rounding | (vwap > fixed_high) | (vwap < fixed_low)
    detail = values_detail(value_columns(frame))
    bad = frame.filter(violation)
    if bad.height:
        report.add("ohlc_violation", bad, detail)
        if cfg.bars.ohlc_violation == "refuse":
            why = "these bars cannot be repaired safely; fix the source or set " \
                  "clean.bars.ohlc_violation=drop"  # fmt: skip
            raise report.error("ohlc_violation", why + adjustment_hint(bad, cfg))
        frame = frame.filter(~violation)
    report.add("ohlc_rounding", frame.filter(rounding), detail)
    repaired = frame.with_columns(
        high=pl.max_horizontal("high", "open", "close"),
        low=pl.min_horizontal("low", "open", "close"),
    )
    if "vwap" in frame.columns:
        repaired = repaired.with_columns(pl.col("vwap").clip(pl.col("low"), pl.col("high")))
    return repaired


def adjustment_hint(bad: pl.DataFrame, cfg: CleanConfig) -> str:
    """What to say when OHLC violations may come from an adjusted close.

    A close adjusted for dividends/splits next to raw open/high/low leaves the open inside
    [low, high] and only the close outside it: the message counts those bars and names
    the adjustment option, which keeps the bars instead of dropping them.
    """
    if cfg.adjust.method != "none":
        return ""
    inside = pl.col("open").is_between(pl.col("low"), pl.col("high"))
    outside = ~pl.col("close").is_between(pl.col("low"), pl.col("high"))
    close_only = bad.filter(inside & outside).height
    shape = (
        f"; {close_only} of them have only the close outside [low, high], as an adjusted "
        "close next to raw open/high/low does"
        if close_only * 2 >= bad.height
        else ""
    )
    return (
        f"{shape}. For dividend/split-adjusted prices, keep the bars with "
        "clean.adjust.method=adj_close (map the raw close and data.columns.adj_close) or "
        "=factors (map data.columns.split / dividend)"
    )


def _drop(
    frame: pl.DataFrame, bad: pl.Expr, rule: str, detail: pl.Expr, report: CleanReport
) -> pl.DataFrame:
    """Report the rows where `bad` holds under `rule`, and return the others."""
    flagged = frame.with_columns(_bad=bad.fill_null(True))
    report.add(rule, flagged.filter(pl.col("_bad")), detail)
    return flagged.filter(~pl.col("_bad")).drop("_bad")
