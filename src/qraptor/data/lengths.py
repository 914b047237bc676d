"""Lengths in bars or in time: windows, warm-ups, embargoes, thresholds that follow the bars.

A *length* in `conf/` is written one of three ways:

* a plain integer: bars, whatever the bar frequency (``48``);
* a duration, in the spelling of ``reduce.freq`` (``6h``, ``2d``, ``1w``, ``1mo``; parsed by
  `qraptor.data.freq.parse_freq`, as the reducer does, so both accept exactly the same text);
* ``min(a, b, ...)`` or ``max(a, b, ...)`` of lengths: ``min(120, 1mo)`` is 120 bars, or
  one month of bars if that is fewer. That is how the shipped defaults scale: on hourly or
  minute bars the bar count rules (the numbers the defaults always had), on daily, weekly or
  monthly bars the duration caps them, so a warm-up never swallows years.

A duration becomes bars by *counting* the dataset's own bars: the median, over the bars
whose trailing window of that duration lies inside the data, of the bars in the window
``(t - duration, t]``. Counting rather than dividing by a spacing is what makes weekends
and holidays come out right: on hourly EUR/USD ``1d`` is 24 bars and ``1w`` is 120 (not
168); on daily stock bars ``1w`` is 5 bars and ``1mo`` about 21; on monthly bars ``1mo`` is
1. Months, quarters and years are calendar offsets (``1mo`` back from 31 March is the last
day of February). A duration is at least one bar; callers pass a larger floor where a
statistic needs it (a standard deviation needs 2). Data shorter than the duration gives an
extrapolated count (the data's bars per unit of time times the duration).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qraptor.core.errors import ConfigError
from qraptor.data.freq import parse_freq

if TYPE_CHECKING:  # loaded where bars are counted: checking a config needs neither
    import numpy as np
    import pandas as pd

Length = int | str  # the type a schema declares for a length key

# units of parse_freq's output (polars spellings)
_FIXED = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_FIXED |= {"d": 86_400 * 10**9, "w": 7 * 86_400 * 10**9}
_MONTHS = {"mo": 1, "q": 3, "y": 12}
_TERM = re.compile(r"(\d+)([a-z]+)")
_COMBINED = re.compile(r"^\s*(min|max)\s*\((.*)\)\s*$")
_SAMPLED_WINDOWS = 20_000  # windows counted per duration: plenty for a median, fast at 1e7 bars
_MEAN_MONTH_NS = 30.436875 * 86_400 * 10**9


@dataclass(frozen=True)
class Duration:
    """A span of time: calendar months plus fixed nanoseconds (as parse_freq spells it)."""

    text: str
    months: int
    nanoseconds: int

    def before(self, stamps: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """`stamps` moved back by this duration."""
        import pandas as pd

        out = stamps - pd.DateOffset(months=self.months) if self.months else stamps
        return out - pd.Timedelta(self.nanoseconds, unit="ns")

    @property
    def approx_ns(self) -> float:
        return self.months * _MEAN_MONTH_NS + self.nanoseconds


@dataclass(frozen=True)
class Combined:
    """min(...) or max(...) of lengths."""

    how: str
    items: tuple[int | Duration | Combined, ...]


Parsed = int | Duration | Combined


def parse_length(value: object, key: str) -> Parsed:
    """A length from conf/ (int bars, duration text, min/max of them); ConfigError names `key`."""
    if isinstance(value, bool):
        raise ConfigError(key, f"{value!r} is not a length; give bars (48) or a duration (2d)")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    combined = _COMBINED.match(text)
    if combined:
        parts = [p for p in combined.group(2).split(",") if p.strip()]
        if len(parts) < 2:
            raise ConfigError(key, f"'{value}': {combined.group(1)}(...) needs two or more lengths")
        return Combined(combined.group(1), tuple(parse_length(p, key) for p in parts))
    try:
        every = parse_freq(text, key)
    except ConfigError as exc:
        raise ConfigError(
            key, f"{exc.problem}; or give bars (48), or min(48, 2d) / max(...) of lengths"
        ) from None
    months, ns = 0, 0
    for number, unit in _TERM.findall(every):
        if unit in _MONTHS:
            months += int(number) * _MONTHS[unit]
        else:
            ns += int(number) * _FIXED[unit]
    return Duration(text, months, ns)


def check_length(value: object, key: str, minimum: int = 1) -> None:
    """Config-time check: `value` parses, and every bar count in it is >= `minimum`."""
    parsed = parse_length(value, key)
    for bars in _bar_counts(parsed):
        if bars < minimum:
            raise ConfigError(key, f"{value!r}: {bars} bars; must be >= {minimum}")


def check_lengths(values: list[Length], key: str, minimum: int = 1) -> None:
    """`check_length` for each item of a list key (errors name `key.<index>`)."""
    if not values:
        raise ConfigError(key, "give at least one length")
    for i, value in enumerate(values):
        check_length(value, f"{key}.{i}", minimum)


def _bar_counts(parsed: Parsed) -> list[int]:
    if isinstance(parsed, int):
        return [parsed]
    if isinstance(parsed, Combined):
        return [n for item in parsed.items for n in _bar_counts(item)]
    return []


def is_duration(value: object) -> bool:
    """Whether `value` involves time (so its bars depend on the data)."""
    return not isinstance(parse_length(value, "length"), int)


class BarClock:
    """Converts lengths to bars for one series of bar timestamps (UTC, increasing)."""

    def __init__(self, timestamps: pd.Series | pd.DatetimeIndex | np.ndarray) -> None:
        import pandas as pd

        self.stamps = pd.DatetimeIndex(pd.to_datetime(timestamps, utc=True)).as_unit("ns")
        self._counts: dict[Duration, int] = {}

    @property
    def n_bars(self) -> int:
        return len(self.stamps)

    def bars(self, value: object, key: str, minimum: int = 1) -> int:
        """`value` (a length) in bars of this series, at least `minimum`."""
        return max(minimum, self._resolve(parse_length(value, key)))

    def _resolve(self, parsed: Parsed) -> int:
        if isinstance(parsed, int):
            return parsed
        if isinstance(parsed, Combined):
            counts = [self._resolve(item) for item in parsed.items]
            return min(counts) if parsed.how == "min" else max(counts)
        if parsed not in self._counts:
            self._counts[parsed] = self._count(parsed)
        return self._counts[parsed]

    def _count(self, duration: Duration) -> int:
        """Median bars in a trailing window of `duration` (see the module docstring)."""
        import numpy as np

        n = len(self.stamps)
        if n == 0:
            return 1
        step = max(1, n // _SAMPLED_WINDOWS)
        ends = self.stamps[::step]
        starts = duration.before(ends)
        inside = starts >= self.stamps[0]
        if inside.any():
            positions = np.arange(0, n, step)[inside]
            first = self.stamps.searchsorted(starts[inside], side="right")
            return max(1, math.ceil(float(np.median(positions - first + 1))))
        span = self.stamps[-1].value - self.stamps[0].value
        if span <= 0:
            return 1
        return max(1, math.ceil(n * duration.approx_ns / span))


def describe(value: object, bars: int) -> str:
    """'48 bars' or '2d = 48 bars', for messages and reports."""
    unit = "bar" if bars == 1 else "bars"
    return f"{bars} {unit}" if isinstance(value, int) else f"{value} = {bars} {unit}"
