"""Parsing the many ways market data writes time into UTC nanosecond timestamps.

Inside qraptor every timestamp is timezone-aware UTC. Timestamps written with an offset
('Z', '+02:00') are unambiguous and converted; timestamps without one are read in the
configured zone (an exchange's local time, say), with daylight-saving gaps and repeats
refused rather than guessed. A file that mixes the two is refused: nothing says which zone
the naive rows are in.

Date-only timestamps ("2020-01-06", a format without a time of day, a Date column) are
calendar dates, not instants: the row of date D is labelled D 00:00 UTC whatever the zone,
so a Berlin or Tokyo daily file is not shifted to the previous day and a New York one not
to 05:00. Day, week and month bars reduced from intraday data carry the same labels (the
local date of their window, see `qraptor.data.reduce.bars`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from qraptor.core.config import check

EPOCH_UNITS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"


@dataclass
class TimestampConfig:
    """How a file writes time."""

    format: str | None  # strftime-style (polars/chrono); None = ISO 8601 or numeric epoch
    unit: str | None  # s | ms | us | ns when timestamps are numeric epochs
    timezone: str  # IANA zone of timestamps written without an offset; the exchange's
    # zone, whose calendar day/week/month bars follow (date-only rows are never shifted)

    def __post_init__(self) -> None:
        check(self.unit is None or self.unit in EPOCH_UNITS, "unit", "must be s, ms, us or ns")
        check(not (self.unit and self.format), "format", "give a format or a unit, not both")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            check(False, "timezone", f"unknown time zone {self.timezone!r} (use an IANA name)")

    @property
    def format_has_offset(self) -> bool:
        fmt = cast(str, self.format)  # searched only when bool(): not None
        return bool(fmt) and ("%z" in fmt or "%:z" in fmt or fmt.endswith("Z"))


def parse_timestamps(
    column: pl.Expr, dtype: pl.DataType, cfg: TimestampConfig, first_value: str | None = None
) -> pl.Expr:
    """An expression turning `column` (of `dtype` in the file) into Datetime(ns, UTC).

    `first_value` (the file's first timestamp as text) tells ISO 8601 text with an offset
    from local text when no format is configured.

    Strict: a value that does not parse raises, so a bad file never yields silent nulls.
    """
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return _localise(column.cast(pl.Datetime("ns")), cfg.timezone)
        return column.dt.convert_time_zone("UTC").cast(pl.Datetime("ns", "UTC"))
    if isinstance(dtype, pl.Date):
        return calendar_dates(column)
    if cfg.unit is not None or dtype.is_numeric():
        scale = EPOCH_UNITS[cfg.unit or "ns"]
        if dtype.is_integer():  # integer epochs stay exact (ns ones need all 64 bits)
            nanos = column.cast(pl.Int64, strict=True) * scale
        else:  # whole units exactly, the fraction to the microsecond a double carries
            number = column.cast(pl.Float64)
            whole = number.floor()
            step = 1_000 if scale >= 1_000_000 else 1
            fraction = ((number - whole) * (scale // step)).round(0).cast(pl.Int64) * step
            nanos = whole.cast(pl.Int64, strict=True) * scale + fraction
        return pl.from_epoch(nanos, time_unit="ns").dt.replace_time_zone("UTC")
    text = column.cast(pl.String).str.strip_chars()
    if is_date_only_format(cfg.format) or (cfg.format is None and is_date_text(first_value)):
        return calendar_dates(text.str.to_date(cfg.format, strict=True))
    if cfg.format is not None:
        if cfg.format_has_offset:
            return text.str.to_datetime(cfg.format, time_unit="ns", time_zone="UTC", strict=True)
        return _localise(
            text.str.to_datetime(cfg.format, time_unit="ns", strict=True), cfg.timezone
        )
    # ISO 8601, shape taken from the first value: with an offset, every row must carry
    # one; without, every row is local time in cfg.timezone. A row of the other shape fails
    # the strict parse and `diagnose_timestamps` reports the file as mixing timezones.
    if first_value is not None and looks_like_offset(first_value):
        return text.str.to_datetime(time_unit="ns", time_zone="UTC", strict=True)
    return _localise(text.str.to_datetime(time_unit="ns", strict=True), cfg.timezone)


# strftime directives that name a date, not a time of day (%F = %Y-%m-%d, %D = %m/%d/%y)
_DATE_DIRECTIVES = frozenset("YyCGgmdebBhjaAuwUWVDFx%")
_DIRECTIVE = re.compile(r"%[-_0^#]?[.:]?\d*([A-Za-z%+])")
_DATE_TEXT = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")


def is_date_only_format(fmt: str | None) -> bool:
    """True when a strftime format writes a calendar date and no time of day ("%Y-%m-%d")."""
    if not fmt:
        return False
    directives = _DIRECTIVE.findall(fmt)
    return bool(directives) and set(directives) <= _DATE_DIRECTIVES


def is_date_text(value: str | None) -> bool:
    """True for an ISO 8601 date without a time of day ("2020-01-06")."""
    return value is not None and _DATE_TEXT.match(value) is not None


def calendar_dates(dates: pl.Expr) -> pl.Expr:
    """Calendar dates (pl.Date) as qraptor timestamps: date D -> D 00:00 UTC.

    A date-only row means "the trading day D in the exchange's zone"; localising its
    midnight would move it to D-1 in UTC east of Greenwich (and to 05:00 west of it).
    The label is therefore the date itself, the convention the reduce stage also uses for
    day, week and month bars, so both agree on which day a bar is.
    """
    return dates.cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")


def _localise(naive: pl.Expr, zone: str) -> pl.Expr:
    return (
        naive.dt.replace_time_zone(zone, ambiguous="raise", non_existent="raise")
        .dt.convert_time_zone("UTC")
        .cast(pl.Datetime("ns", "UTC"))
    )


def diagnose_timestamps(
    text: pl.LazyFrame, column: str, cfg: TimestampConfig
) -> tuple[str, str, list[str]] | None:
    """Find why timestamps in `column` (read as text, with src_row) fail to parse.

    Returns (problem, rule, example rows) or None when the timestamps are fine.
    """
    raw = pl.col(column).str.strip_chars()
    mixed_dates = _diagnose_date_only(text, column, cfg)
    if mixed_dates is not None:
        return mixed_dates
    if cfg.unit is not None:
        bad = text.filter(raw.is_not_null() & raw.cast(pl.Float64, strict=False).is_null())
        return _report(
            bad, column, f"timestamps are not numeric epochs ({cfg.unit})", "bad_timestamp"
        )
    if cfg.format is None:
        has_offset = raw.str.contains(_OFFSET)
        parsed = raw.str.replace(_OFFSET, "").str.to_datetime(time_unit="ns", strict=False)
        naive_ok = ~has_offset & parsed.is_not_null()
        counts = text.select(
            has_offset.sum().alias("aware"), naive_ok.sum().alias("naive")
        ).collect()
        aware, naive = counts.row(0)
        if aware and naive:
            minority = naive_ok if naive <= aware else has_offset
            problem = (
                f"mixed timezones: {aware} timestamps carry a UTC offset and {naive} "
                "do not, so the zone of the others is unknown"
            )
            return _report(text.filter(minority), column, problem, "mixed_timezones")
    else:
        fmt = cfg.format
        parsed = raw.str.to_datetime(
            fmt, time_unit="ns", strict=False, time_zone="UTC" if cfg.format_has_offset else None
        )
    bad = text.filter(raw.is_not_null() & parsed.is_null())
    expected = f"format {cfg.format!r}" if cfg.format else "ISO 8601"
    found = _report(bad, column, f"timestamps do not parse as {expected}", "bad_timestamp")
    if found is not None:
        return found
    if not cfg.format_has_offset and not is_date_only_format(cfg.format):
        local = text.filter(raw.is_not_null()).with_columns(
            parsed.dt.replace_time_zone(cfg.timezone, ambiguous="null", non_existent="null").alias(
                "_local"
            )
        )
        bad = local.filter(pl.col("_local").is_null())
        return _report(
            bad,
            column,
            f"local times that do not exist or are ambiguous in {cfg.timezone} "
            "(daylight-saving change); write them with an offset or in UTC",
            "ambiguous_local_time",
        )
    return None


def _diagnose_date_only(
    text: pl.LazyFrame, column: str, cfg: TimestampConfig
) -> tuple[str, str, list[str]] | None:
    """Date-only ISO text (no format configured) with rows that carry a time of day."""
    if cfg.format is not None or cfg.unit is not None:
        return None
    raw = pl.col(column).str.strip_chars()
    first = text.select(raw.drop_nulls().first()).collect().item()
    if not is_date_text(first):
        return None
    bad = text.filter(raw.is_not_null() & ~raw.str.contains(r"^\d{4}-\d{2}-\d{2}$"))
    problem = (
        "timestamps mix date-only rows (calendar dates, like the first row) and rows with a "
        "time of day; write one shape per file"
    )
    return _report(bad, column, problem, "bad_timestamp")


def _report(
    bad: pl.LazyFrame, column: str, problem: str, rule: str
) -> tuple[str, str, list[str]] | None:
    examples = bad.select("src_row", column).head(5).collect()
    if examples.height == 0:
        return None
    rows = [f"row {row}: {column}={value!r}" for row, value in examples.iter_rows()]
    return problem, rule, rows


def looks_like_offset(value: str) -> bool:
    """True when an ISO timestamp string carries 'Z' or a numeric UTC offset."""
    return re.search(_OFFSET, value.strip()) is not None
