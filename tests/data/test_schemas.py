"""pandera schemas of ticks and bars: good frames pass, each broken rule is named."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from qraptor.core.errors import DataError
from qraptor.data.clean.schemas import (
    BAR_SCHEMA,
    TICK_SCHEMA,
    validate_bars,
    validate_batches,
    validate_folder,
    validate_ticks,
)
from qraptor.data.parts import PartWriter, write_manifest

NS = pl.Datetime("ns", "UTC")
FILES = ["day1.csv", "day2.csv"]


def _times(seconds: list[int]) -> pl.Series:
    return pl.Series("timestamp", [s * 1_000_000_000 for s in seconds], pl.Int64).cast(NS)


def good_ticks(n: int = 6) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "timestamp": _times([0, 1, 1, 2, 3, 4][:n]),  # a shared timestamp is legal
            "price": [100.0, 100.1, 100.2, 100.1, 100.0, 99.9][:n],
            "size": [1.0, 0.0, 2.0, 5.0, 1.0, 3.0][:n],
            "bid": [99.9, 100.0, 100.1, 100.0, 99.9, 99.8][:n],
            "ask": [100.1, 100.2, 100.3, 100.2, 100.1, 100.0][:n],
            "src_file": pl.Series([0, 0, 0, 1, 1, 1][:n], dtype=pl.Int32),
            "src_row": pl.Series([1, 2, 3, 1, 2, 3][:n], dtype=pl.Int64),
        }
    )


def good_bars() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "timestamp": _times([0, 60, 120]),
            "open": [10.0, 10.5, 10.2],
            "high": [10.6, 10.7, 10.4],
            "low": [9.9, 10.1, 10.0],
            "close": [10.5, 10.2, 10.3],
            "volume": [100.0, 0.0, 50.0],
        }
    )


def test_good_frames_pass_with_and_without_optional_columns() -> None:
    validate_ticks(good_ticks())
    validate_ticks(good_ticks().drop("bid", "ask", "src_file", "src_row"))
    validate_bars(good_bars())
    validate_bars(
        good_bars().with_columns(vwap=pl.Series([10.3, 10.4, 10.2]), trades=pl.lit(3, pl.Int64))
    )
    assert TICK_SCHEMA.name == "ticks" and BAR_SCHEMA.name == "bars"


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("price", -1.0, "nonpositive_price"),
        ("price", 0.0, "nonpositive_price"),
        ("bid", 0.0, "nonpositive_price"),
        ("size", -2.0, "negative_size"),
        ("price", float("inf"), "non_finite"),
        ("price", None, "missing_value"),
        ("size", float("nan"), "missing_value"),  # pandera counts NaN as missing
    ],
)
def test_each_tick_value_rule_is_named_with_file_and_row(column, value, rule) -> None:
    ticks = good_ticks().with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(value).otherwise(pl.col(column)).alias(column)
    )
    with pytest.raises(DataError) as err:
        validate_ticks(ticks, files=FILES)
    assert err.value.rule == rule
    assert err.value.path == "day2.csv"
    assert err.value.rows and err.value.rows[0].startswith("day2.csv row 2")


def test_ticks_must_not_go_back_in_time_but_may_share_a_timestamp() -> None:
    ticks = good_ticks().with_columns(timestamp=_times([0, 1, 1, 3, 2, 4]))
    with pytest.raises(DataError) as err:
        validate_ticks(ticks, files=FILES)
    assert err.value.rule == "timestamp_order"
    assert "day2.csv row 2" in str(err.value)


def test_bars_need_strictly_increasing_timestamps() -> None:
    bars = good_bars().with_columns(timestamp=_times([0, 60, 60]))
    with pytest.raises(DataError) as err:
        validate_bars(bars)
    assert err.value.rule == "timestamp_order"
    assert "row 3" in str(err.value)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"high": [10.6, 10.4, 10.4]}, "ohlc_high"),  # high below open 10.5
        ({"low": [9.9, 10.3, 10.0]}, "ohlc_low"),  # low above close 10.2
        ({"volume": [1.0, -1.0, 1.0]}, "negative_volume"),
        ({"open": [10.0, 0.0, 10.2]}, "nonpositive_price"),
        ({"vwap": [10.3, 10.9, 10.2]}, "vwap_range"),
        ({"trades": [1, -1, 1]}, "negative_trades"),
    ],
)
def test_each_bar_rule_is_named(change, rule) -> None:
    bars = good_bars().with_columns(**{k: pl.Series(v) for k, v in change.items()})
    with pytest.raises(DataError) as err:
        validate_bars(bars)
    assert err.value.rule == rule
    assert "row 2" in str(err.value)


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        (good_ticks().with_columns(pl.col("timestamp").dt.cast_time_unit("us")), "time_unit='us'"),
        (good_ticks().with_columns(pl.col("timestamp").dt.replace_time_zone(None)), "None"),
        (good_ticks().drop("size"), "missing column 'size'"),
        (good_ticks().with_columns(symbol=pl.lit("X")), "unexpected column 'symbol'"),
        (good_ticks().with_columns(pl.col("price").cast(pl.String)), "String"),
    ],
)
def test_wrong_structure_is_refused_by_name(frame: pl.DataFrame, needle: str) -> None:
    with pytest.raises(DataError) as err:
        validate_ticks(frame, source="ingested/")
    assert err.value.rule == "schema"
    assert needle in str(err.value)
    assert err.value.path == "ingested/"


def test_order_is_checked_across_batch_boundaries() -> None:
    ticks = good_ticks()
    batches = [ticks[:4], ticks[4:].with_columns(timestamp=_times([0, 1]))]
    with pytest.raises(DataError) as err:
        list(validate_batches(batches, "ticks", files=FILES))
    assert err.value.rule == "timestamp_order"
    assert "day2.csv row 2" in str(err.value)
    assert len(list(validate_batches([ticks[:3], ticks[3:]], "ticks"))) == 2


def _part_folder(folder: Path, frames: list[pl.DataFrame]) -> Path:
    writer = PartWriter(folder)
    for frame in frames:
        writer.write(frame)
    write_manifest(folder, {"kind": "ticks", "files": FILES})
    return folder


def test_validate_folder_streams_parts_and_names_the_source_file(tmp_path: Path) -> None:
    ticks = good_ticks()
    folder = _part_folder(tmp_path / "good", [ticks[:2], ticks[2:]])
    assert validate_folder(folder, "ticks", batch_rows=1) == ticks.height
    bad = ticks.with_columns(price=pl.Series([1.0, 1, 1, 1, 1, -5]))
    folder = _part_folder(tmp_path / "bad", [bad[:3], bad[3:]])
    with pytest.raises(DataError) as err:
        validate_folder(folder, "ticks", batch_rows=2)
    assert err.value.path == "day2.csv" and err.value.rule == "nonpositive_price"
    assert "day2.csv row 3" in str(err.value)
