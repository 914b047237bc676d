"""Time zones: daily files and intraday ticks of exchanges east and west of UTC give bars on
the exchange's calendar, through the real ingest -> clean -> reduce path.

The convention checked here: the bar of local date D is labelled D 00:00 UTC, whether it
comes from a date-only row ("2020-03-30" in a Berlin file) or from the ticks traded on that
local day; weeks start on the local Monday and months on the 1st, across daylight saving.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from qraptor.core.config import to_schema
from qraptor.core.errors import ConfigError, DataError
from qraptor.data.clean.frame import CleanConfig, clean_folder
from qraptor.data.ingest.files import ingest_files
from qraptor.data.ingest.timestamps import TimestampConfig
from qraptor.data.parts import read_folder
from qraptor.data.pipeline_config import compose_pipeline, load_pipeline_config
from qraptor.data.reduce.bars import ReduceConfig, reduce_bars, reduce_folder

# East and west of UTC; Berlin and New York change to summer time inside the range
# (2020-03-29 and 2020-03-08), Tokyo has no daylight saving.
ZONES = ["Europe/Berlin", "Asia/Tokyo", "America/New_York"]
FIRST, LAST = date(2020, 2, 24), date(2020, 4, 24)  # Monday .. Friday, nine full weeks
BARS = {c: c.capitalize() for c in ("open", "high", "low", "close", "volume")}


@pytest.fixture(scope="module")
def clean_cfg() -> CleanConfig:
    return to_schema(compose_pipeline().clean, CleanConfig, "clean")


def weekdays() -> list[date]:
    days = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
    return [d for d in days if d.weekday() < 5]


def reduce_cfg(freq: str) -> ReduceConfig:
    return ReduceConfig(
        kind="time",
        freq=freq,
        ticks_per_bar=1000,
        volume_per_bar=1.0,
        dollars_per_bar=1.0,
        batch_rows=7,  # several batches, so bars straddle batch boundaries
    )


def pipeline(
    path: Path, work: Path, kind: str, columns: dict, timestamp: TimestampConfig, clean_cfg
) -> Path:
    """ingest -> clean of one file; returns the cleaned part folder."""
    ingest_files([path], work / "ingested", kind=kind, columns=columns, timestamp=timestamp)
    clean_folder(work / "ingested", work / "clean", kind, clean_cfg, work / "tmp")
    return work / "clean"


def daily_file(path: Path, days: list[date], fmt: str) -> Path:
    """A vendor's daily file: one date-only row per trading day, prices that tell days apart."""
    lines = ["Date,Open,High,Low,Close,Volume"]
    for i, day in enumerate(days):
        o = 100.0 + i
        lines.append(f"{day.strftime(fmt)},{o},{o + 0.8},{o - 0.6},{o + 0.5},{1000 + i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def labels(bars: pl.DataFrame) -> list[datetime]:
    return bars["timestamp"].to_list()


def at_midnight_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("fmt", ["%Y-%m-%d", None])  # a configured format, or ISO dates
def test_date_only_rows_are_labelled_on_their_date_in_any_zone(
    zone: str, fmt: str | None, tmp_path: Path, clean_cfg: CleanConfig
) -> None:
    days = weekdays()
    source = daily_file(tmp_path / "daily.csv", days, "%Y-%m-%d")
    clean = pipeline(
        source,
        tmp_path,
        "bars",
        {"timestamp": "Date", **BARS},
        TimestampConfig(format=fmt, unit=None, timezone=zone),
        clean_cfg,
    )
    stamps = labels(read_folder(clean))
    assert stamps == [at_midnight_utc(d) for d in days]

    daily = reduce_folder(clean, "bars", reduce_cfg("1d"), timezone=zone)
    assert labels(daily) == [at_midnight_utc(d) for d in days]
    assert all(t.weekday() < 5 for t in labels(daily))  # no bar on a Saturday or Sunday

    weekly = reduce_folder(clean, "bars", reduce_cfg("1w"), timezone=zone)
    mondays = [d for d in days if d.weekday() == 0]
    assert labels(weekly) == [at_midnight_utc(d) for d in mondays]
    for week, monday in zip(weekly.iter_rows(named=True), mondays, strict=True):
        i = days.index(monday)  # Monday's row; Friday's is four rows later
        assert week["trades"] == 5
        assert week["open"] == 100.0 + i and week["close"] == 100.0 + i + 4 + 0.5
        assert week["volume"] == sum(1000 + j for j in range(i, i + 5))

    monthly = reduce_folder(clean, "bars", reduce_cfg("1mo"), timezone=zone)
    months = sorted({(d.year, d.month) for d in days})
    assert labels(monthly) == [datetime(y, m, 1, tzinfo=UTC) for y, m in months]
    counts = [sum((d.year, d.month) == ym for d in days) for ym in months]
    assert monthly["trades"].to_list() == counts  # Feb 24-28, all of March, April 1-24


def session_ticks(path: Path, zone: str, days: list[date]) -> Path:
    """Ticks written in UTC ('Z') at local times that cross midnight UTC somewhere.

    00:30 local on Mondays (Sunday in UTC east of Greenwich), 08:00 pre-market (the previous
    day in UTC in Tokyo), 12:00, and 21:30 after hours (the next day in UTC in New York).
    """
    tz = ZoneInfo(zone)
    lines = ["timestamp,price,size"]
    n = 0
    for day in days:
        clock = [(8, 0), (12, 0), (21, 30)]
        if day.weekday() == 0:
            clock.insert(0, (0, 30))
        for k, (h, m) in enumerate(clock):
            local = datetime(day.year, day.month, day.day, h, m, tzinfo=tz)
            stamp = local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(f"{stamp},{100 + n * 0.01:.2f},{1 + k}")  # smooth: no outliers
            n += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("zone", ZONES)
def test_ticks_reduce_to_the_same_day_week_and_month_labels_as_daily_files(
    zone: str, tmp_path: Path, clean_cfg: CleanConfig
) -> None:
    days = weekdays()
    ticks = session_ticks(tmp_path / "ticks.csv", zone, days)
    clean_ticks = pipeline(
        ticks,
        tmp_path / "t",
        "ticks",
        {"timestamp": "timestamp", "price": "price", "size": "size"},
        TimestampConfig(format=None, unit=None, timezone=zone),
        clean_cfg,
    )
    daily_src = daily_file(tmp_path / "daily.csv", days, "%Y-%m-%d")
    clean_daily = pipeline(
        daily_src,
        tmp_path / "d",
        "bars",
        {"timestamp": "Date", **BARS},
        TimestampConfig(format="%Y-%m-%d", unit=None, timezone=zone),
        clean_cfg,
    )
    for freq in ("1d", "1w", "1mo"):
        from_ticks = reduce_folder(clean_ticks, "ticks", reduce_cfg(freq), timezone=zone)
        from_daily = reduce_folder(clean_daily, "bars", reduce_cfg(freq), timezone=zone)
        assert labels(from_ticks) == labels(from_daily), freq
    daily = reduce_folder(clean_ticks, "ticks", reduce_cfg("1d"), timezone=zone)
    per_day = [4 if d.weekday() == 0 else 3 for d in days]  # every tick on its local day
    assert daily["trades"].to_list() == per_day
    weekly = reduce_folder(clean_ticks, "ticks", reduce_cfg("1w"), timezone=zone)
    assert weekly["trades"].to_list() == [16] * 9  # Monday 00:30 is in its own week
    # the 1-hour bars stay epoch-aligned instants in UTC, as before
    hourly = reduce_folder(clean_ticks, "ticks", reduce_cfg("1h"), timezone=zone)
    first = datetime(2020, 2, 24, 0, 30, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    assert labels(hourly)[0] == first.replace(minute=0)


def test_utc_calendar_bars_equal_the_epoch_aligned_bars() -> None:
    """In UTC (the EUR/USD sample, crypto) day/week/month bars are what they were."""
    start = datetime(2020, 3, 1, tzinfo=UTC)
    n = 24 * 80
    rng = np.random.default_rng(3)
    close = 1.1 + np.cumsum(rng.normal(0, 1e-3, n))
    hourly = pl.DataFrame(
        {
            "timestamp": pl.datetime_range(
                start, start + timedelta(hours=n - 1), "1h", time_unit="ns", eager=True
            ),
            "open": close,
            "high": close + 1e-3,
            "low": close - 1e-3,
            "close": close,
            "volume": np.ones(n),
        }
    )
    for every in ("1d", "1w", "1mo"):
        bars = reduce_bars(hourly, every)
        expected = hourly.group_by_dynamic("timestamp", every=every).agg(
            pl.col("open").first(), pl.col("close").last(), pl.len().alias("n")
        )
        assert bars["timestamp"].to_list() == expected["timestamp"].to_list()
        assert bars["open"].to_list() == expected["open"].to_list()
        assert bars["trades"].to_list() == expected["n"].cast(pl.Int64).to_list()


def test_daylight_saving_week_keeps_monday_to_friday_in_one_bar() -> None:
    """Hourly bars of a Berlin session: the week of the change to summer time (Sunday
    2020-03-29) and the week after each hold their own Monday..Friday."""
    tz = ZoneInfo("Europe/Berlin")
    stamps, n = [], 0
    for day in range(23, 32 + 3):  # Mon 23 Mar .. Fri 3 Apr
        d = date(2020, 3, 1) + timedelta(days=day - 1)
        if d.weekday() < 5:
            for hour in (0, 9, 17):  # local midnight too, the first instant of the day
                stamps.append(datetime(d.year, d.month, d.day, hour, tzinfo=tz).astimezone(UTC))
                n += 1
    prices = np.arange(n, dtype=float) + 100
    bars = pl.DataFrame(
        {
            "timestamp": pl.Series(stamps).cast(pl.Datetime("ns", "UTC")),
            "open": prices,
            "high": prices,
            "low": prices,
            "close": prices,
            "volume": np.ones(n),
        }
    )
    weekly = reduce_bars(bars, "1w", timezone="Europe/Berlin")
    assert labels(weekly) == [datetime(2020, 3, 23, tzinfo=UTC), datetime(2020, 3, 30, tzinfo=UTC)]
    assert weekly["trades"].to_list() == [15, 15]
    in_utc = reduce_bars(bars, "1w")  # the old UTC windows put Monday 00:00 in the week before
    assert in_utc["trades"].to_list() == [1, 15, 14]


def test_mixing_calendar_and_clock_units_is_refused() -> None:
    with pytest.raises(ConfigError, match="36h"):
        reduce_cfg("1d12h")
    assert reduce_cfg("36h").every == "36h"


def test_a_file_mixing_dates_and_times_of_day_is_refused_by_row(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Volume\n2020-01-06,1,1,1,1,1\n2020-01-07 09:00,1,1,1,1,1\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError, match="date-only") as err:
        ingest_files(
            [path],
            tmp_path / "out",
            kind="bars",
            columns={"timestamp": "Date", **BARS},
            timestamp=TimestampConfig(format=None, unit=None, timezone="Europe/Berlin"),
        )
    assert err.value.rows and "row 2" in err.value.rows[0]


def test_shipped_googl_sample_gets_weekday_dates_and_monday_weeks(tmp_path: Path) -> None:
    """The GOOGL sample (America/New_York, "%Y-%m-%d") through the stages' entry points:
    the zone reaches reduce from the pipeline config. Its labels moved from 04:00/05:00 UTC
    (local midnight) to 00:00 UTC of the trading date."""
    from qraptor.cli.data_stages import run_clean, run_ingest, run_reduce
    from qraptor.data.sources import materialise_raw

    cfg = load_pipeline_config(["data=sample_googl", "reduce.freq=1w"])
    materialise_raw(cfg.data, tmp_path / "raw")
    run_ingest(cfg, tmp_path / "raw", tmp_path / "ingested")
    run_clean(cfg, tmp_path / "ingested", tmp_path / "clean", tmp_path / "c.json", tmp_path / "w")
    days = read_folder(tmp_path / "clean")["timestamp"]
    assert days[0] == datetime(2009, 5, 22, tzinfo=UTC)  # the file's first row, a Friday
    assert (days.dt.hour() == 0).all() and (days.dt.weekday() <= 5).all()
    summary = run_reduce(
        cfg,
        tmp_path / "clean",
        tmp_path / "bars.parquet",
        tmp_path / "r.json",
        tmp_path / "bars.csv",
        tmp_path / "bars.png",
    )
    weeks = pl.read_parquet(tmp_path / "bars.parquet")["timestamp"]
    assert (weeks.dt.weekday() == 1).all()  # every week is labelled on its Monday
    assert summary["first"] == "2009-05-18T00:00:00+00:00"
    assert json.loads((tmp_path / "r.json").read_text())["bars"] == weeks.len()


def test_a_parquet_date_column_is_calendar_dates_too(tmp_path: Path) -> None:
    path = tmp_path / "daily.parquet"
    days = weekdays()[:5]
    pl.DataFrame(
        {"Date": days, **{c: [1.0] * 5 for c in ("Open", "High", "Low", "Close", "Volume")}}
    ).write_parquet(path)
    ingest_files(
        [path],
        tmp_path / "out",
        kind="bars",
        columns={"timestamp": "Date", **BARS},
        timestamp=TimestampConfig(format=None, unit=None, timezone="Asia/Tokyo"),
    )
    assert labels(read_folder(tmp_path / "out")) == [at_midnight_utc(d) for d in days]
