"""When synthetic ticks may print: sessions in exchange local time, signal periods in UTC.

All times here are integer microseconds since the Unix epoch, UTC. Signal periods are
aligned to multiples of the period since the epoch (as bar builders align time bars), and
clipped to the session, so bars at `signal_period` line up with the periods the AR(1)
signal is planted on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from qraptor.data.synthetic.config import SyntheticConfig

US_PER_SECOND = 1_000_000


def local_to_utc_us(day: date, minutes: int, zone: ZoneInfo) -> int:
    """Microseconds since epoch of `minutes` after local midnight of `day` in `zone`.

    '24:00' is the next local midnight. A wall time inside a daylight-saving gap takes the
    offset in force before the change (zoneinfo's fold=0).
    """
    wall = datetime(day.year, day.month, day.day) + timedelta(minutes=minutes)
    return int(wall.replace(tzinfo=zone).timestamp()) * US_PER_SECOND


def session_windows(cfg: SyntheticConfig) -> Iterator[tuple[int, int]]:
    """UTC [start, end) of each session in order; endless when `total_ticks` is set.

    `days` counts sessions (trading days), so weekends skipped by `weekdays_only` do not
    use up the count.
    """
    zone = ZoneInfo(cfg.timezone)
    start_min, end_min = cfg.session_minutes
    day = date.fromisoformat(cfg.start)
    emitted = 0
    while cfg.total_ticks is not None or emitted < cfg.days:
        if not cfg.weekdays_only or day.weekday() < 5:
            start = local_to_utc_us(day, start_min, zone)
            end = local_to_utc_us(day, end_min, zone)
            if end > start:
                yield start, end
            emitted += 1
        day += timedelta(days=1)


def period_bounds(start_us: int, end_us: int, period_us: int) -> np.ndarray:
    """Boundaries of the signal periods covering [start, end): epoch-aligned, clipped."""
    first_inner = -(-start_us // period_us) * period_us  # ceil to the period grid
    inner = np.arange(first_inner, end_us, period_us, dtype=np.int64)
    inner = inner[inner > start_us]
    return np.concatenate(([start_us], inner, [end_us])).astype(np.int64)


def session_seconds(cfg: SyntheticConfig) -> float:
    """Total session time of the calendar in seconds (for progress estimates)."""
    if cfg.total_ticks is not None:
        return cfg.total_ticks / cfg.ticks_per_second
    return sum(end - start for start, end in session_windows(cfg)) / US_PER_SECOND
