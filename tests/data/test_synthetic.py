"""The synthetic tick generator: a contract the reduce benchmark and the cleaning tests rely on.

Same seed -> same tape whatever the chunking; ticks only inside sessions; defects exactly
where the labels say and about as often as configured; a planted AR(1) signal that 1-minute
bars show; CSV/Parquet files that read back to the generated frames.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qraptor.core.config import to_schema
from qraptor.core.errors import ConfigError
from qraptor.data.pipeline_config import compose_pipeline
from qraptor.data.synthetic import tape as synthetic
from qraptor.data.synthetic.block import ar1_filter
from qraptor.data.synthetic.tape import (
    BadTicksConfig,
    SyntheticConfig,
    generate_ticks,
    write_synthetic,
)

NO_BAD_TICKS = BadTicksConfig(
    spike_rate=0.0,
    spike_size=0.05,
    duplicate_rate=0.0,
    out_of_order_rate=0.0,
    nonpositive_rate=0.0,
)


def load_config(*overrides: str) -> SyntheticConfig:
    cfg = compose_pipeline(["data=synthetic", *overrides])
    return to_schema(cfg.data.synthetic, SyntheticConfig, "data.synthetic")


@pytest.fixture(scope="module")
def base() -> SyntheticConfig:
    """The shipped defaults, cut to two sessions to keep tests fast."""
    return dataclasses.replace(load_config(), days=2)


def tape(cfg: SyntheticConfig, label_bad: bool = False) -> pl.DataFrame:
    return pl.concat(list(generate_ticks(cfg, label_bad=label_bad)))


def test_shipped_config_is_a_ticks_source_with_identity_columns() -> None:
    cfg = compose_pipeline(["data=synthetic"])
    assert cfg.data.source == "synthetic"
    assert cfg.data.kind == "ticks"
    assert dict(cfg.data.columns) == {c: c for c in ("timestamp", "price", "size", "bid", "ask")}
    assert cfg.data.timestamp.timezone == "UTC"
    assert isinstance(load_config(), SyntheticConfig)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("data.synthetic.bad_ticks.spike_rate=1.5", "data.synthetic.bad_ticks.spike_rate"),
        ("data.synthetic.bad_ticks.spike_size=1.0", "data.synthetic.bad_ticks.spike_size"),
        ("data.synthetic.ar_coef=1.0", "data.synthetic.ar_coef"),
        ("data.synthetic.session_end='09:00'", "data.synthetic.session_end"),
        ("data.synthetic.session_start='9.30'", "data.synthetic.session_start"),
        ("data.synthetic.timezone=Mars/Olympus", "data.synthetic.timezone"),
        ("data.synthetic.signal_period=1fortnight", "data.synthetic.signal_period"),
        ("data.synthetic.format=xlsx", "data.synthetic.format"),
        ("data.synthetic.ticks_per_second=0", "data.synthetic.ticks_per_second"),
        ("data.synthetic.regimes=[1.0,-2.0]", "data.synthetic.regimes"),
        ("data.synthetic.start=2024-13-40", "data.synthetic.start"),
        ("data.synthetic.days=lots", "data.synthetic.days"),
    ],
)
def test_bad_config_value_fails_naming_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(override)
    assert caught.value.key == key


def test_same_seed_gives_the_same_tape_whatever_the_chunking(base: SyntheticConfig) -> None:
    whole = tape(dataclasses.replace(base, rows_per_file=10_000_000), label_bad=True)
    chunks = list(generate_ticks(dataclasses.replace(base, rows_per_file=997), label_bad=True))
    assert {c.height for c in chunks[:-1]} == {997}
    assert pl.concat(chunks).equals(whole)
    assert tape(base, label_bad=True).equals(whole)
    assert not tape(dataclasses.replace(base, seed=base.seed + 1)).equals(whole.drop("bad"))


def test_columns_and_types_follow_the_ticks_contract(base: SyntheticConfig) -> None:
    with_quotes = tape(base)
    assert with_quotes.schema == pl.Schema(
        {
            "timestamp": pl.Datetime("ns", "UTC"),
            "price": pl.Float64,
            "size": pl.Float64,
            "bid": pl.Float64,
            "ask": pl.Float64,
        }
    )
    assert tape(base, label_bad=True).schema["bad"] == pl.Utf8
    without = tape(dataclasses.replace(base, with_quotes=False))
    assert without.columns == ["timestamp", "price", "size"]
    assert without.equals(with_quotes.select("timestamp", "price", "size"))


def test_total_ticks_is_exact_and_cuts_the_same_tape(base: SyntheticConfig) -> None:
    # Two sessions hold ~94k ticks: 123_457 needs the calendar to run past `days`.
    cfg = dataclasses.replace(base, days=1, total_ticks=123_457, rows_per_file=50_000)
    chunks = list(generate_ticks(cfg))
    assert [c.height for c in chunks] == [50_000, 50_000, 23_457]
    longer = tape(dataclasses.replace(base, days=5))
    assert pl.concat(chunks).equals(longer.head(123_457))


@pytest.mark.parametrize(
    ("zone", "start", "end", "weekdays_only"),
    [
        ("America/New_York", "09:30", "16:00", True),  # spans the 2024-03-10 DST change
        ("Europe/London", "00:00", "24:00", True),
        ("Asia/Tokyo", "09:00", "15:00", False),
    ],
)
def test_ticks_stay_inside_the_sessions(
    base: SyntheticConfig, zone: str, start: str, end: str, weekdays_only: bool
) -> None:
    cfg = dataclasses.replace(
        base,
        start="2024-03-07",
        days=4,
        timezone=zone,
        session_start=start,
        session_end=end,
        weekdays_only=weekdays_only,
        ticks_per_second=0.5,
    )
    local = tape(cfg).select(pl.col("timestamp").dt.convert_time_zone(zone))["timestamp"]
    minutes = local.dt.hour().cast(pl.Int32) * 60 + local.dt.minute().cast(pl.Int32)
    start_min = int(start[:2]) * 60 + int(start[3:])
    end_min = int(end[:2]) * 60 + int(end[3:])
    assert minutes.min() >= start_min
    assert minutes.max() < end_min
    days = sorted(set(local.dt.date().to_list()))
    assert len(days) == 4
    if weekdays_only:
        assert all(day.weekday() < 5 for day in days)
    else:  # 2024-03-09 and -10 are a weekend
        assert [day.day for day in days] == [7, 8, 9, 10]
    # Every session hour gets ticks (the calendar is not shifted by an hour around DST).
    assert (minutes // 60).n_unique() == math.ceil(end_min / 60) - start_min // 60


def test_sparse_tape_with_empty_periods(base: SyntheticConfig, tmp_path: Path) -> None:
    cfg = dataclasses.replace(base, ticks_per_second=0.0005, days=3, bad_ticks=NO_BAD_TICKS)
    ticks = tape(cfg)
    assert 10 < ticks.height < 80
    assert (ticks["price"] > 0).all()
    summary = write_synthetic(dataclasses.replace(cfg, ticks_per_second=1e-9), tmp_path / "x")
    assert summary["rows"] == 0 and summary["files"] == 0


def test_order_and_prices_are_clean_except_where_labelled(base: SyntheticConfig) -> None:
    bad = BadTicksConfig(
        spike_rate=0.01,
        spike_size=0.05,
        duplicate_rate=0.01,
        out_of_order_rate=0.01,
        nonpositive_rate=0.01,
    )
    ticks = tape(dataclasses.replace(base, bad_ticks=bad), label_bad=True)
    not_later = ticks["timestamp"].diff() <= pl.duration(nanoseconds=0)
    steps = ticks.with_columns(not_later=not_later.fill_null(False))
    unlabelled_disorder = steps.filter(pl.col("not_later") & pl.col("bad").is_null())
    assert unlabelled_disorder.height == 0
    disordered = steps.filter(pl.col("bad") == "out_of_order")
    assert disordered.height > 0 and disordered["not_later"].all()
    # Nonpositive prices: the planted ones, and copies of them printed as duplicates.
    assert set(ticks.filter(pl.col("price") <= 0)["bad"]) <= {"nonpositive", "duplicate"}
    assert (ticks.filter(pl.col("bad") == "nonpositive")["price"] <= 0).all()
    assert (ticks["bid"] > 0).all() and (ticks["ask"] >= ticks["bid"]).all()
    assert (ticks["size"] > 0).all()
    # A duplicate is an exact copy of the row printed before it.
    previous = ticks.drop("bad").shift(1)
    copies = ticks.drop("bad").filter(ticks["bad"] == "duplicate")
    assert copies.equals(previous.filter(ticks["bad"] == "duplicate"))
    # A spike sits spike_size away from the quotes; a good trade prints at bid or ask.
    spikes = ticks.filter(pl.col("bad") == "spike")
    away = (spikes["price"] / ((spikes["bid"] + spikes["ask"]) / 2) - 1).abs()
    assert ((away - 0.05).abs() < 0.002).all()
    good = ticks.filter(pl.col("bad").is_null())
    assert ((good["price"] == good["bid"]) | (good["price"] == good["ask"])).all()


def test_planted_counts_follow_the_rates(base: SyntheticConfig) -> None:
    rates = {"spike": 0.004, "duplicate": 0.002, "out_of_order": 0.003, "nonpositive": 0.001}
    bad = BadTicksConfig(
        spike_rate=rates["spike"],
        spike_size=0.05,
        duplicate_rate=rates["duplicate"],
        out_of_order_rate=rates["out_of_order"],
        nonpositive_rate=rates["nonpositive"],
    )
    ticks = tape(dataclasses.replace(base, days=6, bad_ticks=bad), label_bad=True)
    counts = dict(ticks["bad"].drop_nulls().value_counts().iter_rows())
    for label, rate in rates.items():
        expected = rate * ticks.height
        assert abs(counts[label] - expected) < 5 * math.sqrt(expected) + 0.02 * expected, label


def bar_return_autocorrelation(ticks: pl.DataFrame, every: str = "1m") -> float:
    bars = ticks.group_by_dynamic("timestamp", every=every).agg(pl.col("price").last())
    returns = np.diff(np.log(bars["price"].to_numpy()))
    return float(np.corrcoef(returns[1:], returns[:-1])[0, 1])


@pytest.mark.parametrize("ar_coef", [0.3, 0.0, -0.2])
def test_one_minute_bars_show_the_planted_ar1_signal(base: SyntheticConfig, ar_coef: float) -> None:
    cfg = dataclasses.replace(base, days=20, ar_coef=ar_coef, regimes=[1.0], bad_ticks=NO_BAD_TICKS)
    measured = bar_return_autocorrelation(tape(cfg))  # ~7,800 one-minute returns
    assert abs(measured - ar_coef) < 0.05


def test_signal_lives_at_the_signal_period(base: SyntheticConfig) -> None:
    cfg = dataclasses.replace(
        base, days=30, ar_coef=0.3, signal_period="5min", regimes=[1.0], bad_ticks=NO_BAD_TICKS
    )
    ticks = tape(cfg)
    assert abs(bar_return_autocorrelation(ticks, "5m") - 0.3) < 0.07
    assert bar_return_autocorrelation(ticks, "1m") < 0.12


def test_minute_volatility_matches_the_annual_volatility(base: SyntheticConfig) -> None:
    cfg = dataclasses.replace(base, days=10, regimes=[1.0], bad_ticks=NO_BAD_TICKS)
    bars = tape(cfg).group_by_dynamic("timestamp", every="1m").agg(pl.col("price").last())
    measured = np.diff(np.log(bars["price"].to_numpy())).std()
    expected = cfg.annual_volatility * math.sqrt(60 / (6.5 * 3600 * 252))
    assert measured == pytest.approx(expected, rel=0.1)


def read_csv_ticks(path: Path) -> pl.DataFrame:
    text = pl.read_csv(path, schema_overrides={"timestamp": pl.Utf8})
    stamp = pl.col("timestamp").str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.fZ", time_unit="ns", time_zone="UTC", strict=True
    )
    return text.with_columns(stamp, pl.exclude("timestamp").cast(pl.Float64))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_written_files_read_back_to_the_generated_tape(
    base: SyntheticConfig, tmp_path: Path, fmt: str
) -> None:
    bad = BadTicksConfig(
        spike_rate=0.01,
        spike_size=0.05,
        duplicate_rate=0.01,
        out_of_order_rate=0.01,
        nonpositive_rate=0.01,
    )
    cfg = dataclasses.replace(base, format=fmt, rows_per_file=40_000, bad_ticks=bad)
    summary = write_synthetic(cfg, tmp_path / "raw")
    expected = tape(cfg, label_bad=True)
    paths = sorted((tmp_path / "raw").iterdir())
    assert [p.name for p in paths] == [f"ticks-{i:05d}.{fmt}" for i in range(len(paths))]
    assert summary["files"] == len(paths) == math.ceil(expected.height / 40_000)
    assert summary["rows"] == expected.height
    labelled = dict(expected["bad"].drop_nulls().value_counts().iter_rows())
    assert summary["bad_ticks"] == labelled
    if fmt == "csv":
        first_lines = paths[0].read_text().splitlines()[:2]
        assert first_lines[0] == "timestamp,price,size,bid,ask"
        assert first_lines[1].split(",")[0].endswith("Z")
        read = pl.concat([read_csv_ticks(p) for p in paths])
    else:
        read = pl.read_parquet(paths)
    assert read.equals(expected.drop("bad"))


def test_csv_without_quotes_has_the_short_header(base: SyntheticConfig, tmp_path: Path) -> None:
    write_synthetic(dataclasses.replace(base, with_quotes=False, days=1), tmp_path / "raw")
    header = (tmp_path / "raw" / "ticks-00000.csv").read_text().split("\n", 1)[0]
    assert header == "timestamp,price,size"


def test_failed_write_leaves_the_previous_output(
    base: SyntheticConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "raw"
    write_synthetic(dataclasses.replace(base, days=1), out)
    before = sorted(p.name for p in out.iterdir())
    written = []

    def fail_on_second(chunk: pl.DataFrame, path: Path, cfg: SyntheticConfig) -> None:
        if written:
            raise OSError("disk full")
        written.append(path)

    monkeypatch.setattr(synthetic, "_write_chunk", fail_on_second)
    with pytest.raises(OSError):
        write_synthetic(dataclasses.replace(base, rows_per_file=1000), out)
    assert sorted(p.name for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]  # no temporary debris


@settings(deadline=None, max_examples=60)
@given(
    phi=st.one_of(st.just(0.0), st.just(1e-13), st.floats(-0.999, 0.999)),
    n=st.integers(1, 3000),
    previous=st.floats(-1.0, 1.0),
)
def test_vectorised_ar1_recursion_matches_the_loop(phi: float, n: int, previous: float) -> None:
    shocks = np.random.default_rng(n).standard_normal(n)
    expected = np.empty(n)
    last = previous
    for i, shock in enumerate(shocks):
        last = phi * last + shock
        expected[i] = last
    np.testing.assert_allclose(ar1_filter(shocks, phi, previous), expected, rtol=1e-9, atol=1e-12)
