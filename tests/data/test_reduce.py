"""Stage `reduce`: bars a user can trust, whatever the size of the input or how it is cut."""

from __future__ import annotations

import itertools
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from qraptor.core.config import to_schema
from qraptor.core.errors import ConfigError, DataError
from qraptor.data.columns import BAR_COLUMNS, MANIFEST_NAME
from qraptor.data.parts import PartWriter
from qraptor.data.pipeline_config import compose_pipeline
from qraptor.data.reduce.bars import (
    ReduceConfig,
    parse_freq,
    reduce_bars,
    reduce_folder,
    reduce_ticks,
)

T0 = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
NS = pl.Datetime("ns", "UTC")


def cfg(kind: str = "time", **overrides: object) -> ReduceConfig:
    values: dict = {
        "kind": kind,
        "freq": "1min",
        "ticks_per_bar": 3,
        "volume_per_bar": 10.0,
        "dollars_per_bar": 100.0,
        "batch_rows": 1_000,
    }
    values.update(overrides)
    return ReduceConfig(**values)


def ticks(seconds: list[float], prices: list[float], sizes: list[float]) -> pl.DataFrame:
    stamps = [T0 + timedelta(seconds=s) for s in seconds]
    return pl.DataFrame(
        {"timestamp": pl.Series(stamps, dtype=NS), "price": prices, "size": sizes},
        schema_overrides={"price": pl.Float64, "size": pl.Float64},
    )


def rows(bars: pl.DataFrame) -> list[tuple]:
    """Bars as (seconds after T0, open, high, low, close, volume, vwap, trades)."""
    out = []
    for r in bars.iter_rows(named=True):
        offset = (r["timestamp"] - T0).total_seconds()
        values = [r[c] for c in BAR_COLUMNS[1:]]
        out.append((offset, *[round(v, 9) if isinstance(v, float) else v for v in values]))
    return out


def to_polars(frame: pd.DataFrame) -> pl.DataFrame:
    """A UTC-indexed pandas frame as polars (pl.from_pandas warns about tz on pandas 3)."""
    epoch_ns = pl.Series(frame.index.as_unit("ns").asi8)
    stamps = pl.from_epoch(epoch_ns, "ns").dt.replace_time_zone("UTC").alias("timestamp")
    return pl.DataFrame([stamps, *(pl.Series(c, frame[c].to_numpy()) for c in frame.columns)])


def write_parts(folder: Path, frame: pl.DataFrame, cuts: list[int]) -> Path:
    """Write `frame` as a part folder cut at the given row positions."""
    writer = PartWriter(folder)
    bounds = [0, *sorted(set(cuts)), frame.height]
    for start, stop in itertools.pairwise(bounds):
        writer.write(frame.slice(start, stop - start))
    return folder


# --- configuration -------------------------------------------------------------------


def test_shipped_conf_composes_to_hourly_time_bars() -> None:
    groups = ("clean", "features", "split")
    conf = Path(__file__).resolve().parents[2] / "conf"
    missing = [f"~{g}" for g in groups if not (conf / g / "default.yaml").exists()]
    reduce_cfg = to_schema(compose_pipeline(missing, conf).reduce, ReduceConfig, "reduce")
    assert (reduce_cfg.kind, reduce_cfg.every) == ("time", "1h")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"kind": "renko"}, "kind"),
        ({"freq": "1M"}, "freq"),
        ({"freq": "0min"}, "freq"),
        ({"freq": "soon"}, "freq"),
        ({"ticks_per_bar": 0}, "ticks_per_bar"),
        ({"volume_per_bar": -1.0}, "volume_per_bar"),
        ({"dollars_per_bar": 0.0}, "dollars_per_bar"),
        ({"batch_rows": 0}, "batch_rows"),
    ],
)
def test_bad_config_names_the_key(overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        cfg(**overrides)
    assert err.value.key == key


@pytest.mark.parametrize(
    ("text", "every"),
    [("1min", "1m"), ("15s", "15s"), ("1H", "1h"), ("1h30min", "1h30m"), ("1mo", "1mo")],
)
def test_freq_accepts_pandas_and_polars_spellings(text: str, every: str) -> None:
    assert parse_freq(text) == every


# --- time bars -----------------------------------------------------------------------


def test_time_bars_are_left_closed_left_labelled_and_skip_empty_windows() -> None:
    tape = ticks(
        [1, 30, 59.999, 60, 200, 200],  # 60 s opens the second bar; 120-179 s is empty
        [10, 12, 9, 11, 13, 12.5],
        [1, 2, 3, 4, 1, 3],
    )
    assert rows(reduce_ticks(tape, cfg())) == [
        (0, 10, 12, 9, 9, 6, round((10 + 24 + 27) / 6, 9), 3),
        (60, 11, 11, 11, 11, 4, 11, 1),
        (180, 13, 13, 12.5, 12.5, 4, round((13 + 37.5) / 4, 9), 2),
    ]


def test_zero_volume_bar_gets_mean_price_as_vwap() -> None:
    bars = reduce_ticks(ticks([0, 1], [10, 12], [0, 0]), cfg())
    assert bars["vwap"].to_list() == [11.0]


def test_equal_timestamps_keep_their_row_order() -> None:
    tape = ticks([5, 5, 5, 5], [3, 1, 4, 2], [1, 1, 1, 1])
    (bar,) = reduce_ticks(tape, cfg()).iter_rows(named=True)
    assert (bar["open"], bar["close"]) == (3, 2)
    tick_bars = reduce_ticks(tape, cfg("tick", ticks_per_bar=2))
    assert tick_bars.select("open", "close").rows() == [(3, 1), (4, 2)]


def test_non_utc_input_is_converted_and_naive_refused() -> None:
    tape = ticks([0, 61], [1, 2], [1, 1])
    paris = tape.with_columns(pl.col("timestamp").dt.convert_time_zone("Europe/Paris"))
    assert_frame_equal(reduce_ticks(paris, cfg()), reduce_ticks(tape, cfg()))
    naive = tape.with_columns(pl.col("timestamp").dt.replace_time_zone(None))
    with pytest.raises(DataError, match="time zone"):
        reduce_ticks(naive, cfg())


@pytest.mark.parametrize("freq", ["1s", "1min", "7min", "1h", "1D"])
def test_time_bars_equal_a_pandas_resample(freq: str) -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    gaps = rng.exponential(0.4, n) * (rng.random(n) > 0.1)  # ~10% equal timestamps
    gaps[rng.random(n) < 0.002] += 3_600  # some long pauses: empty windows
    stamps = pd.Timestamp(T0) + pd.to_timedelta(np.cumsum(gaps), unit="s")
    frame = pd.DataFrame(
        {"price": 100 + np.cumsum(rng.normal(0, 0.05, n)), "size": rng.integers(1, 50, n)},
        index=pd.DatetimeIndex(stamps, name="timestamp").as_unit("ns"),
    ).astype(float)

    # pandas aligns days to midnight already (and warns about origin for them)
    origin = {} if freq.endswith("D") else {"origin": "epoch"}
    resampler = frame.resample(freq, label="left", closed="left", **origin)
    expected = resampler["price"].ohlc()
    expected["volume"] = resampler["size"].sum()
    expected["vwap"] = (frame["price"] * frame["size"]).resample(freq, **origin).sum()
    expected["vwap"] /= expected["volume"]
    expected["trades"] = resampler["price"].count()
    expected = to_polars(expected[expected["trades"] > 0])

    ours = reduce_ticks(to_polars(frame), cfg(freq=freq))
    assert_frame_equal(ours, expected.cast({"timestamp": NS}), check_dtypes=False, rel_tol=1e-12)


# --- information bars ----------------------------------------------------------------


def test_tick_bars_hold_a_fixed_number_of_ticks() -> None:
    tape = ticks([0, 1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7], [1] * 7)
    bars = reduce_ticks(tape, cfg("tick", ticks_per_bar=3))
    assert bars.select("open", "close", "trades").rows() == [(1, 3, 3), (4, 6, 3), (7, 7, 1)]
    assert [(t - T0).total_seconds() for t in bars["timestamp"]] == [0, 3, 6]  # first tick


def test_volume_bars_close_on_the_tick_that_reaches_the_threshold_and_carry_overflow() -> None:
    # cumulative size before each tick: 0, 4, 8, 14, 15, 30 -> bars 0, 0, 0, 1, 1, 3
    tape = ticks([0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6], [4, 4, 6, 1, 15, 1])
    bars = reduce_ticks(tape, cfg("volume", volume_per_bar=10.0))
    assert bars.select("open", "close", "volume", "trades").rows() == [
        (1, 3, 14, 3),  # reached 10 on the third tick, overflow 4 counts towards bar 1
        (4, 5, 16, 2),  # 14 + 1 + 15 = 30: jumps over bar 2's multiple
        (6, 6, 1, 1),
    ]


def test_dollar_bars_count_price_times_size() -> None:
    # traded value: 20, 30, 60, 10 -> cumulative before: 0, 20, 50, 110 -> bars 0, 0, 1, 2
    tape = ticks([0, 1, 2, 3], [10, 10, 20, 10], [2, 3, 3, 1])
    bars = reduce_ticks(tape, cfg("dollar", dollars_per_bar=50.0))
    assert bars.select("open", "close", "volume", "vwap", "trades").rows() == [
        (10, 10, 5, 10, 2),
        (20, 20, 3, 20, 1),
        (10, 10, 1, 10, 1),
    ]


def test_negative_size_is_refused_for_volume_bars() -> None:
    tape = ticks([0, 1], [1, 1], [1, -2])
    with pytest.raises(DataError) as err:
        reduce_ticks(tape, cfg("volume"))
    assert err.value.rule == "quantity" and "row 2" in err.value.rows[0]


# --- bars to coarser bars ------------------------------------------------------------


def hourly_bars(n: int, with_extras: bool) -> pl.DataFrame:
    rng = np.random.default_rng(3)
    close = 1.1 + np.cumsum(rng.normal(0, 1e-3, n))
    open_ = np.r_[1.1, close[:-1]]
    frame = pl.DataFrame(
        {
            "timestamp": pl.datetime_range(
                T0, T0 + timedelta(hours=n - 1), "1h", eager=True, time_zone="UTC"
            ).cast(NS),
            "open": open_,
            "high": np.maximum(open_, close) + 5e-4,
            "low": np.minimum(open_, close) - 5e-4,
            "close": close,
            "volume": rng.integers(0, 1_000, n).astype(float),
        }
    )
    if with_extras:
        frame = frame.with_columns(
            vwap=(pl.col("open") + pl.col("close")) / 2, trades=pl.lit(7, pl.Int64)
        )
    return frame


def test_bars_at_the_same_frequency_pass_through_with_vwap_and_trades() -> None:
    bars = hourly_bars(48, with_extras=False)
    out = reduce_bars(bars, "1h")
    assert_frame_equal(out.select(bars.columns), bars)
    typical = (bars["high"] + bars["low"] + bars["close"]) / 3
    np.testing.assert_allclose(out["vwap"].to_numpy(), typical.to_numpy(), rtol=1e-14)
    assert out["trades"].to_list() == [1] * 48


@pytest.mark.parametrize("with_extras", [False, True])
def test_bars_to_coarser_bars(with_extras: bool) -> None:
    bars = hourly_bars(30, with_extras)  # 09:00 day 1 .. 14:00 day 2
    out = reduce_bars(bars, "1d")
    first = bars.head(15)  # 09:00..23:00 of day 1
    assert out.height == 2
    day1 = out.row(0, named=True)
    assert day1["timestamp"] == datetime(2024, 1, 2, tzinfo=UTC)
    assert (day1["open"], day1["close"]) == (first["open"][0], first["close"][-1])
    assert (day1["high"], day1["low"]) == (first["high"].max(), first["low"].min())
    price = first["vwap"] if with_extras else (first["high"] + first["low"] + first["close"]) / 3
    expected_vwap = (price * first["volume"]).sum() / first["volume"].sum()
    assert day1["vwap"] == pytest.approx(expected_vwap, rel=1e-14)
    assert day1["trades"] == (15 * 7 if with_extras else 15)


def test_information_bars_from_bar_input_are_refused(tmp_path: Path) -> None:
    folder = write_parts(tmp_path / "bars", hourly_bars(5, False), [])
    with pytest.raises(ConfigError) as err:
        reduce_folder(folder, "bars", cfg("volume"))
    assert err.value.key == "reduce.kind"


# --- out of core: chunking never changes the bars ------------------------------------

KIND_SETTINGS = {
    "time": {"freq": "1min"},
    "tick": {"ticks_per_bar": 4},
    "volume": {"volume_per_bar": 25.0},
    "dollar": {"dollars_per_bar": 300.0},
}


@st.composite
def tick_tapes(draw: st.DrawFn) -> tuple[pl.DataFrame, list[int], int]:
    """Ticks with exact-in-float prices and sizes, plus random part cuts and batch size."""
    n = draw(st.integers(1, 150))
    gaps = draw(st.lists(st.sampled_from([0, 0, 1, 7, 29, 61, 400]), min_size=n, max_size=n))
    prices = draw(st.lists(st.integers(64, 1_280), min_size=n, max_size=n))  # k/64: exact
    sizes = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    cuts = draw(st.lists(st.integers(1, max(1, n - 1)), max_size=6)) if n > 1 else []
    batch_rows = draw(st.integers(1, 40))
    tape = ticks(list(np.cumsum(gaps, dtype=float)), [p / 64 for p in prices], sizes)
    return tape, cuts, batch_rows


@pytest.mark.parametrize("kind", list(KIND_SETTINGS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=tick_tapes())
def test_reducing_in_chunks_equals_reducing_in_one_piece(
    kind: str, case: tuple[pl.DataFrame, list[int], int]
) -> None:
    tape, cuts, batch_rows = case
    config = cfg(kind, batch_rows=batch_rows, **KIND_SETTINGS[kind])
    whole = reduce_ticks(tape, config)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_parts(Path(tmp) / "ticks", tape, cuts)
        assert_frame_equal(reduce_folder(folder, "ticks", config), whole, check_exact=True)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    cuts=st.lists(st.integers(1, 1_999), max_size=8),
    batch_rows=st.integers(60, 700),  # small batches are the exact test's job
    kind=st.sampled_from(list(KIND_SETTINGS)),
)
def test_chunking_with_arbitrary_floats_changes_only_rounding(
    seed: int, cuts: list[int], batch_rows: int, kind: str
) -> None:
    rng = np.random.default_rng(seed)
    n = 2_000
    tape = ticks(
        list(np.cumsum(rng.exponential(2.0, n) * (rng.random(n) > 0.2))),
        list(100 + np.cumsum(rng.normal(0, 0.1, n))),
        list(rng.exponential(3.0, n)),
    )
    config = cfg(kind, batch_rows=batch_rows, **KIND_SETTINGS[kind])
    whole = reduce_ticks(tape, config)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_parts(Path(tmp) / "ticks", tape, cuts)
        chunked = reduce_folder(folder, "ticks", config)
    # bar membership (hence timestamps, OHLC, trades) is exact; sums may differ in the last bit
    assert_frame_equal(chunked.drop("volume", "vwap"), whole.drop("volume", "vwap"))
    assert_frame_equal(chunked, whole, rel_tol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 99), max_size=5),
    batch_rows=st.integers(1, 30),
    freq=st.sampled_from(["2h", "1d", "1w"]),
    with_extras=st.booleans(),
)
def test_bars_in_chunks_equal_bars_in_one_piece(
    cuts: list[int], batch_rows: int, freq: str, with_extras: bool
) -> None:
    bars = hourly_bars(100, with_extras)
    whole = reduce_bars(bars, freq)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_parts(Path(tmp) / "bars", bars, cuts)
        chunked = reduce_folder(folder, "bars", cfg(freq=freq, batch_rows=batch_rows))
    assert_frame_equal(chunked, whole, rel_tol=1e-12)


# --- bad input -----------------------------------------------------------------------


def test_rows_out_of_order_name_the_part_row_and_source(tmp_path: Path) -> None:
    tape = ticks([0, 1, 2, 3, 2.5, 4], [1] * 6, [1] * 6).with_columns(
        src_file=pl.lit(0, pl.Int32), src_row=pl.int_range(2, 8, dtype=pl.Int64)
    )
    folder = write_parts(tmp_path / "ticks", tape, [3])
    (folder / MANIFEST_NAME).write_text(json.dumps({"files": ["raw/day1.csv"]}))
    with pytest.raises(DataError) as err:
        reduce_folder(folder, "ticks", cfg(batch_rows=2))
    assert err.value.rule == "sorted_by_time"
    assert err.value.path == str(folder / "part-00001.parquet")
    assert "row 2:" in err.value.rows[-1] and "raw/day1.csv, row 6" in err.value.rows[-1]


def test_a_part_that_starts_before_the_previous_one_ended_is_refused(tmp_path: Path) -> None:
    tape = ticks([5, 6, 1, 2], [1] * 4, [1] * 4)
    folder = write_parts(tmp_path / "ticks", tape, [2])
    with pytest.raises(DataError, match="starts before"):
        reduce_folder(folder, "ticks", cfg())


def test_missing_columns_and_empty_folders_are_refused(tmp_path: Path) -> None:
    folder = write_parts(tmp_path / "ticks", ticks([0], [1], [1]).drop("size"), [])
    with pytest.raises(DataError, match="size"):
        reduce_folder(folder, "ticks", cfg())
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no part"):
        reduce_folder(tmp_path / "empty", "ticks", cfg())
