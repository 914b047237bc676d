"""Typed schema of the `clean` config group (values live in conf/clean/default.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qraptor.core.config import check
from qraptor.data.lengths import Duration, parse_length

OUTLIER_ACTIONS = ("drop", "clip", "flag")
OHLC_ACTIONS = ("refuse", "drop")
ADJUST_METHODS = ("none", "adj_close", "factors")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")


@dataclass
class OutlierConfig:
    """Robust z-score of each tick's return from earlier ticks (see clean_outliers.py)."""

    action: str  # drop | clip (to the z_max band) | flag (keep, only report)
    reference_ticks: int  # k: a return is measured from the median of the k earlier prices
    window: int  # W: earlier returns whose median and IQR give the centre and scale
    min_periods: int  # ticks are judged once this many earlier returns exist
    z_max: float  # |z| above this is an outlier
    scale_floor: float  # log-return units added to the robust scale (flat windows have IQR 0)

    def __post_init__(self) -> None:
        check(self.action in OUTLIER_ACTIONS, "outliers.action", f"one of {OUTLIER_ACTIONS}")
        check(
            self.reference_ticks >= 1 and self.reference_ticks % 2 == 1,
            "outliers.reference_ticks",
            "must be an odd number >= 1 (a median of an odd count is one of the prices)",
        )
        check(self.window >= 4, "outliers.window", "must be >= 4 ticks")
        check(
            2 <= self.min_periods <= self.window,
            "outliers.min_periods",
            "must be between 2 and outliers.window",
        )
        check(self.z_max > 0, "outliers.z_max", "must be > 0")
        check(self.scale_floor >= 0, "outliers.scale_floor", "must be >= 0")


@dataclass
class TradingHoursConfig:
    """Keep rows whose local time is in [start, end) on the listed weekdays.

    start > end means a session across midnight (e.g. 22:00-06:00); start == end, all day.
    """

    enabled: bool
    timezone: str  # IANA zone the hours are written in
    start: str  # "HH:MM" or "HH:MM:SS", local time
    end: str
    weekdays: list[str]  # mon .. sun, of the row's local date

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            check(False, "trading_hours.timezone", f"unknown time zone {self.timezone!r}")
        for key in ("start", "end"):
            value = getattr(self, key)
            check(bool(_CLOCK.match(value)), f"trading_hours.{key}", "must be HH:MM or HH:MM:SS")
        bad = sorted(set(self.weekdays) - set(WEEKDAYS))
        check(not bad, "trading_hours.weekdays", f"unknown days {bad}; use {WEEKDAYS}")
        check(bool(self.weekdays), "trading_hours.weekdays", "must list at least one day")

    @property
    def start_time(self) -> time:
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        return time.fromisoformat(self.end)


@dataclass
class GapsConfig:
    """Flag (never fill or drop) holes in the data longer than a threshold, per data kind.

    Bars are judged by their own rhythm as well as by the clock: a hole is a gap when it is
    longer than `bars` *and* longer than `bars_spacings` times the usual (median) spacing
    of the input bars. On hourly or daily bars the duration decides (a weekend or a long
    weekend is no gap, a missing week is); on weekly or monthly bars the spacing does (a
    monthly bar 31 days after the last is no gap, a missing month is).
    """

    ticks: str | None  # a duration (5min); null: do not look for gaps in ticks
    bars: str | None  # a duration (4d); null: judge bars by their spacing alone
    bars_spacings: float | None  # a multiple of the usual bar spacing; null: by `bars` alone

    def __post_init__(self) -> None:
        for key in ("ticks", "bars"):
            value = getattr(self, key)
            if value is not None:
                parsed = parse_length(value, f"gaps.{key}")
                check(isinstance(parsed, Duration), f"gaps.{key}",
                      f"{value!r}: give a duration such as 5min or 4d")  # fmt: skip
        spacings = self.bars_spacings
        check(spacings is None or spacings > 1, "gaps.bars_spacings", "must be > 1 or null")

    def seconds(self, data_kind: str, spacing_seconds: float | None) -> float | None:
        """The gap threshold for `data_kind` given the input's median spacing (None = off)."""
        if data_kind == "ticks":
            return _duration_seconds(self.ticks)
        limits = [_duration_seconds(self.bars)]
        if self.bars_spacings is not None and spacing_seconds:
            limits.append(self.bars_spacings * spacing_seconds)
        found = [limit for limit in limits if limit is not None]
        return max(found) if found else None


def _duration_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    parsed = parse_length(value, "gaps")
    return parsed.approx_ns / 1e9 if isinstance(parsed, Duration) else None


@dataclass
class BarRulesConfig:
    """OHLC consistency of bars: what counts as float rounding, what is refused."""

    ohlc_tolerance: float  # relative: |high - max(open, close)| <= tol·price is rounding
    ohlc_violation: str  # refuse (DataError) | drop (the bar, reported)

    def __post_init__(self) -> None:
        check(0 <= self.ohlc_tolerance < 0.01, "bars.ohlc_tolerance", "must be in [0, 0.01)")
        check(self.ohlc_violation in OHLC_ACTIONS, "bars.ohlc_violation", f"one of {OHLC_ACTIONS}")


@dataclass
class AdjustConfig:
    """Adjusted prices (bars): scale open/high/low like the close (see clean/adjust.py).

    none:      prices as they are
    adj_close: scale each bar by adj_close / close (data.columns.adj_close); the vendor's
               levels, which a backward adjustment takes from later actions
    factors:   forward, causal adjustment from data.columns.split / dividend
    """

    method: str

    def __post_init__(self) -> None:
        check(self.method in ADJUST_METHODS, "adjust.method", f"one of {ADJUST_METHODS}")


@dataclass
class ExternalSortConfig:
    """duckdb's out-of-core sort, used only when the input is out of order."""

    memory_limit: str  # duckdb size, e.g. "1GB"; beyond it duckdb spills to work_dir
    threads: int

    def __post_init__(self) -> None:
        check(
            bool(re.match(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", self.memory_limit)),
            "external_sort.memory_limit",
            "must be a size like 512MB or 1GB",
        )
        check(self.threads >= 1, "external_sort.threads", "must be >= 1")


@dataclass
class CleanConfig:
    """Every knob of stage `clean`."""

    strict: bool  # fail on any violation instead of repairing it
    batch_rows: int  # rows per streamed batch (bounded memory)
    examples: int  # offending rows kept per rule in the report
    outliers: OutlierConfig
    trading_hours: TradingHoursConfig
    gaps: GapsConfig
    bars: BarRulesConfig
    adjust: AdjustConfig
    external_sort: ExternalSortConfig

    def __post_init__(self) -> None:
        check(self.batch_rows >= 1, "batch_rows", "must be >= 1")
        check(1 <= self.examples <= 100, "examples", "must be in [1, 100]")
