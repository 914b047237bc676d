"""Typed schema of `conf/data/*.yaml`'s `synthetic:` section (values live in conf/ only).

Range checks name the key relative to the section (`bad_ticks.spike_rate`, `timezone`), so
`to_schema(cfg.data.synthetic, SyntheticConfig, "data.synthetic")` reports the full key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qraptor.core.config import check

FORMATS = ("csv", "parquet")
# Timestamps have microsecond resolution and are kept strictly increasing, so arrivals must
# be well apart from 1 µs on average.
MAX_TICKS_PER_SECOND = 100_000.0
# One signal period is the smallest unit generated at once: bound its size in memory.
MAX_TICKS_PER_PERIOD = 5_000_000.0
# A year of trading time, to scale `annual_volatility` down to one signal period.
SESSIONS_PER_YEAR_WEEKDAYS = 252
SESSIONS_PER_YEAR_EVERY_DAY = 365

_CLOCK = re.compile(r"^(\d{2}):(\d{2})$")
_PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d)\s*$")
_PERIOD_UNIT_SECONDS = {
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}


def clock_minutes(text: str) -> int | None:
    """'09:30' -> 570; '24:00' -> 1440 (end of day); None when not a valid HH:MM."""
    match = _CLOCK.match(str(text))
    if not match:
        return None
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        return None
    return hours * 60 + minutes


def period_seconds(text: str) -> float | None:
    """'1min' -> 60.0, '500ms' -> 0.5, '1h' -> 3600.0; None when not understood."""
    match = _PERIOD.match(str(text))
    if not match:
        return None
    return float(match.group(1)) * _PERIOD_UNIT_SECONDS[match.group(2)]


@dataclass
class BadTicksConfig:
    """Bad ticks planted on purpose, so cleaning can be tested against known answers.

    Rates are per-tick probabilities. A spike multiplies the trade price by 1 ± spike_size;
    a duplicate is an exact copy printed right after its original; an out-of-order tick is
    printed 1-5 rows late; a nonpositive tick has price 0 or -price.
    """

    spike_rate: float
    spike_size: float
    duplicate_rate: float
    out_of_order_rate: float
    nonpositive_rate: float

    def __post_init__(self) -> None:
        for name in ("spike_rate", "duplicate_rate", "out_of_order_rate", "nonpositive_rate"):
            rate = getattr(self, name)
            check(
                0.0 <= rate <= 1.0,
                f"bad_ticks.{name}",
                f"must be a probability in [0, 1], got {rate}",
            )
        check(
            0.0 < self.spike_size < 1.0,
            "bad_ticks.spike_size",
            f"must be in (0, 1) so a spike stays positive, got {self.spike_size}",
        )


@dataclass
class SyntheticConfig:
    """A seeded synthetic tick tape: calendar, arrivals, price process, quotes, bad ticks.

    `annual_volatility` is the volatility of regime multiplier 1.0 over a trading year of
    252 sessions (365 when `weekdays_only` is false); time outside sessions does not move
    the price. `ar_coef` is the lag-1 autocorrelation of log returns over `signal_period`.
    With `total_ticks` set the tape has exactly that many rows (bad ticks included) and the
    calendar runs past `days` if it must.
    """

    seed: int
    start: str
    days: int
    weekdays_only: bool
    session_start: str
    session_end: str
    timezone: str
    ticks_per_second: float
    total_ticks: int | None
    start_price: float
    annual_volatility: float
    regimes: list[float]
    regime_switch_prob: float
    spread_bps: float
    ar_coef: float
    signal_period: str
    mean_size: float
    bad_ticks: BadTicksConfig
    format: str
    rows_per_file: int
    with_quotes: bool

    def __post_init__(self) -> None:
        check(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
        try:
            date.fromisoformat(str(self.start))
        except ValueError:
            check(False, "start", f"must be an ISO date like '2024-01-02', got {self.start!r}")
        check(self.days >= 1, "days", f"must be >= 1, got {self.days}")
        self._check_session()
        check(
            0.0 < self.ticks_per_second <= MAX_TICKS_PER_SECOND,
            "ticks_per_second",
            f"must be in (0, {MAX_TICKS_PER_SECOND:g}], got {self.ticks_per_second}",
        )
        check(
            self.total_ticks is None or self.total_ticks >= 1,
            "total_ticks",
            f"must be null or >= 1, got {self.total_ticks}",
        )
        check(
            self.start_price > 0.0 and math.isfinite(self.start_price),
            "start_price",
            f"must be > 0, got {self.start_price}",
        )
        check(
            0.0 <= self.annual_volatility <= 10.0,
            "annual_volatility",
            f"must be in [0, 10] (0.2 = 20% a year), got {self.annual_volatility}",
        )
        check(
            len(self.regimes) >= 1 and all(m > 0.0 for m in self.regimes),
            "regimes",
            f"must be a non-empty list of positive multipliers, got {list(self.regimes)}",
        )
        check(
            0.0 <= self.regime_switch_prob <= 1.0,
            "regime_switch_prob",
            f"must be a probability in [0, 1], got {self.regime_switch_prob}",
        )
        check(
            0.0 <= self.spread_bps < 10_000.0,
            "spread_bps",
            f"must be in [0, 10000), got {self.spread_bps}",
        )
        check(
            -1.0 < self.ar_coef < 1.0,
            "ar_coef",
            f"must be in (-1, 1) for a stationary AR(1), got {self.ar_coef}",
        )
        self._check_signal_period()
        check(self.mean_size > 0.0, "mean_size", f"must be > 0, got {self.mean_size}")
        check(self.format in FORMATS, "format", f"must be one of {FORMATS}, got {self.format!r}")
        check(self.rows_per_file >= 1, "rows_per_file", f"must be >= 1, got {self.rows_per_file}")

    def _check_session(self) -> None:
        start, end = clock_minutes(self.session_start), clock_minutes(self.session_end)
        check(
            start is not None and start < 1440,
            "session_start",
            f"must be 'HH:MM' from 00:00 to 23:59, got {self.session_start!r}",
        )
        check(
            end is not None and end > 0,
            "session_end",
            f"must be 'HH:MM' from 00:01 to 24:00, got {self.session_end!r}",
        )
        assert start is not None and end is not None  # check() raised otherwise
        check(
            end > start,
            "session_end",
            f"must be after session_start ({self.session_start}); sessions crossing "
            f"midnight are not supported, got {self.session_end!r}",
        )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            check(False, "timezone", f"unknown time zone {self.timezone!r} (use an IANA name)")

    def _check_signal_period(self) -> None:
        seconds = period_seconds(self.signal_period)
        check(
            seconds is not None and 0.001 <= seconds <= 86400.0,
            "signal_period",
            f"must be a duration like '1min', '30s', '1h' between 1ms and 1d, "
            f"got {self.signal_period!r}",
        )
        assert seconds is not None  # check() raised otherwise
        per_period = self.ticks_per_second * seconds
        check(
            per_period <= MAX_TICKS_PER_PERIOD,
            "signal_period",
            f"{self.signal_period} holds ~{per_period:.3g} ticks at {self.ticks_per_second} "
            f"ticks/s; keep it under {MAX_TICKS_PER_PERIOD:.0g} (shorter period)",
        )
        check(
            round(seconds * 1e6) % 1000 == 0,
            "signal_period",
            "must be a whole number of milliseconds",
        )

    @property
    def signal_period_seconds(self) -> float:
        return period_seconds(self.signal_period)  # type: ignore[return-value]

    @property
    def session_minutes(self) -> tuple[int, int]:
        """Session start and end in minutes after local midnight."""
        return clock_minutes(self.session_start), clock_minutes(self.session_end)  # type: ignore[return-value]

    @property
    def sessions_per_year(self) -> int:
        return SESSIONS_PER_YEAR_WEEKDAYS if self.weekdays_only else SESSIONS_PER_YEAR_EVERY_DAY
