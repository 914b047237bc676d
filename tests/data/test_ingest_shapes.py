"""Ingest of the file shapes users have: no header, pandas' index, gzip/zip, epoch units.

Every file here is a real file written in tmp_path.
"""

from __future__ import annotations

import gzip
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from qraptor.core.errors import ConfigError, DataError
from qraptor.data.ingest.csvshape import CsvConfig
from qraptor.data.ingest.files import ingest_files
from qraptor.data.ingest.timestamps import TimestampConfig
from qraptor.data.parts import read_folder
from qraptor.data.sources import DataConfig, SampleConfig, raw_files

TICKS = {"timestamp": "timestamp", "price": "price", "size": "size"}
AUTO = TimestampConfig(format=None, unit=None, timezone="UTC")
HEADERLESS = CsvConfig(header=False)
T0 = datetime(2024, 1, 2, 10, 0, tzinfo=UTC)


def _ingest(files, out, columns=TICKS, timestamp=AUTO, **kwargs) -> pl.DataFrame:
    files = files if isinstance(files, list) else [files]
    ingest_files(
        files, out, kind=kwargs.pop("kind", "ticks"), columns=columns, timestamp=timestamp, **kwargs
    )
    return read_folder(out)


def _refused(tmp_path: Path, files, **kwargs) -> DataError:
    with pytest.raises(DataError) as caught:
        _ingest(files, tmp_path / "refused", **kwargs)
    assert not (tmp_path / "refused").exists()
    return caught.value


# --- problem 3: headerless CSV ------------------------------------------------------


def test_headerless_csv_is_read_by_position_and_keeps_the_first_tick(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text("101,1704189600000,100.5,3\n102,1704189600500,100.25,1\n")
    frame = _ingest(
        path,
        tmp_path / "out",
        columns={"timestamp": "1", "price": "2", "size": "3"},
        csv=HEADERLESS,
    )
    assert frame.height == 2  # the first row is a tick, not names
    assert frame["timestamp"].to_list() == [T0, datetime(2024, 1, 2, 10, 0, 0, 500_000, UTC)]
    assert frame["price"].to_list() == [100.5, 100.25]
    assert frame["src_row"].to_list() == [1, 2]


def test_a_headerless_file_read_with_a_header_is_refused_saying_so(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text("101,1704189600000,100.5,3\n102,1704189600500,100.25,1\n")
    error = _refused(tmp_path, path, columns={"timestamp": "time", "price": "p", "size": "q"})
    assert error.rule == "no_header"
    assert str(path) in str(error)
    assert "no header row" in str(error)
    assert "data.csv.header: false" in str(error)
    assert "0-based positions" in str(error)


def test_headerless_mapping_must_be_positions_within_the_row(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text("1704189600000,100.5,3\n")
    names = _refused(tmp_path, path, columns=TICKS, csv=HEADERLESS)
    assert names.rule == "wrong_columns" and "0-based column position" in str(names)
    too_far = _refused(
        tmp_path, path, columns={"timestamp": 0, "price": 1, "size": 3}, csv=HEADERLESS
    )
    assert "only 3 columns" in str(too_far)


def test_a_header_read_as_data_says_which_option_reads_it(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text("time,price,qty\n1704189600000,100.5,3\n")
    error = _refused(
        tmp_path, path, columns={"timestamp": 0, "price": 1, "size": 2}, csv=HEADERLESS
    )
    assert "row 1" in str(error)
    assert "data.csv.header: true" in str(error)


# --- problem 4: pandas' unnamed index ------------------------------------------------


@pytest.mark.parametrize("name", ["", "Unnamed: 0"])
def test_a_pandas_index_column_can_be_mapped_without_editing_the_file(tmp_path, name):
    ticks = pd.DataFrame(
        {"price": [1.5, 1.6], "size": [2.0, 1.0]},
        index=pd.DatetimeIndex(["2024-01-02 10:00:00", "2024-01-02 10:00:01"], tz="UTC"),
    )
    path = tmp_path / "ticks.csv"
    ticks.to_csv(path)  # header ",price,size": the index has no name
    assert path.read_text().startswith(",price,size\n")
    frame = _ingest(path, tmp_path / "out", columns={**TICKS, "timestamp": name})
    assert frame["timestamp"].to_list() == [T0, datetime(2024, 1, 2, 10, 0, 1, tzinfo=UTC)]
    assert frame["price"].to_list() == [1.5, 1.6]


def test_a_pandas_range_index_is_ignored(tmp_path):
    path = tmp_path / "ticks.csv"
    pd.DataFrame({"timestamp": ["2024-01-02T10:00:00Z"], "price": [1.0], "size": [2.0]}).to_csv(
        path
    )
    assert _ingest(path, tmp_path / "out")["price"].to_list() == [1.0]
    error = _refused(tmp_path, path, columns={**TICKS, "timestamp": "time"})
    assert "map it as '' or 'Unnamed: 0'" in str(error)


# --- problem 5: .csv.gz and .zip -------------------------------------------------------


def _tick_text(rows: int) -> str:
    lines = ["timestamp,price,size"]
    lines += [
        f"2024-01-02T10:{i // 60:02d}:{i % 60:02d}.{i:06d}Z,{100 + i / 100},{i % 7 + 1}"
        for i in range(rows)
    ]
    return "\n".join(lines) + "\n"


def test_gzip_and_zip_csv_are_read_directly_as_the_plain_file(tmp_path):
    text = _tick_text(500)
    plain = tmp_path / "ticks.csv"
    plain.write_text(text)
    packed = tmp_path / "ticks.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    archive = tmp_path / "ticks.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ticks.csv", text)
    expected = _ingest(plain, tmp_path / "plain", batch_rows=100)
    for source in (packed, archive):
        got = _ingest(source, tmp_path / source.name, batch_rows=100)
        assert got.equals(expected), source.name


def test_zip_with_several_or_non_csv_members_is_refused_by_name(tmp_path):
    several = tmp_path / "several.zip"
    with zipfile.ZipFile(several, "w") as z:
        z.writestr("a.csv", _tick_text(2))
        z.writestr("b.csv", _tick_text(2))
    error = _refused(tmp_path, several)
    assert error.rule == "not_data" and "exactly one CSV" in str(error) and "b.csv" in str(error)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("ticks.json", "{}")
    assert "'ticks.json', not a .csv" in str(_refused(tmp_path, other))


def test_binary_inside_gzip_is_refused_after_decompression(tmp_path):
    path = tmp_path / "junk.csv.gz"
    path.write_bytes(gzip.compress(bytes(range(256)) * 8))
    error = _refused(tmp_path, path)
    assert error.rule == "not_data"
    assert "NUL bytes" in str(error) and "after gzip decompression" in str(error)


def test_a_truncated_gzip_is_refused_by_name(tmp_path):
    rows = [
        f"2024-01-02T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z,{i},1"
        for i in range(40000)
    ]
    packed = gzip.compress(("timestamp,price,size\n" + "\n".join(rows) + "\n").encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    error = _refused(tmp_path, path)
    assert error.rule == "unreadable" and "gzip file is damaged or cut short" in str(error)


def test_raw_folder_lists_compressed_files(tmp_path):
    for name in ("a.csv", "b.csv.gz", "c.zip", "c.zip.CHECKSUM", "d.parquet", "e.json.gz"):
        (tmp_path / name).write_bytes(b"x")
    cfg = DataConfig(
        name="x",
        source="sample",
        kind="ticks",
        sample=SampleConfig("pkg", "a.csv"),
        files=None,
        columns=TICKS,
        timestamp=AUTO,
        synthetic=None,
    )
    assert [p.name for p in raw_files(cfg, tmp_path)] == ["a.csv", "b.csv.gz", "c.zip", "d.parquet"]


# --- exchange kline dumps: headerless CSV in a zip, open time in ms or us -----------------

KLINE_COLUMNS = {  # the 12 columns of an exchange's public kline dump, by position
    "timestamp": 0,  # open time
    "open": 1,
    "high": 2,
    "low": 3,
    "close": 4,
    "volume": 5,
    "trades": 8,
}


def _kline_zip(path: Path, scale: int) -> Path:
    start = 1735689600  # 2025-01-01 00:00:00 UTC
    rows = []
    for i in range(3):
        open_time = (start + 60 * i) * scale
        close_time = (start + 60 * i + 59) * scale + scale - 1
        rows.append(
            f"{open_time},93500.1{i},93550.00,93480.50,9352{i}.00,12.3456{i},{close_time},"
            f"1154321.12,{1200 + i},6.1,570000.5,0"
        )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(path.with_suffix(".csv").name, "\n".join(rows) + "\n")
    return path


def test_exchange_kline_zips_switching_from_ms_to_us_read_the_same(tmp_path):
    ms = _kline_zip(tmp_path / "BTCUSDT-1m-2024-12-31.zip", 1000)
    us = _kline_zip(tmp_path / "BTCUSDT-1m-2025-01-01.zip", 1_000_000)
    frame = _ingest([ms, us], tmp_path / "out", columns=KLINE_COLUMNS, kind="bars", csv=HEADERLESS)
    first = datetime(2025, 1, 1, tzinfo=UTC)
    stamps = frame["timestamp"].to_list()
    assert stamps[:3] == stamps[3:] == [first.replace(minute=m) for m in range(3)]
    assert frame["trades"].to_list()[:3] == [1200, 1201, 1202]
    assert frame["src_file"].to_list() == [0, 0, 0, 1, 1, 1]
    assert frame["open"][0] == pytest.approx(93500.10)


# --- epoch units --------------------------------------------------------------------------


@pytest.mark.parametrize("year", [1990, 2024, 2100])
@pytest.mark.parametrize("unit", ["s", "s.frac", "ms", "us", "ns"])
def test_epoch_unit_is_detected_from_magnitude(tmp_path, year, unit):
    instant = datetime(year, 6, 30, 12, 34, 56, 250_000, tzinfo=UTC)
    seconds = int(instant.timestamp())
    value = {
        "s": str(seconds),
        "s.frac": f"{seconds}.25",
        "ms": str(seconds * 1000 + 250),
        "us": str(seconds * 1_000_000 + 250_000),
        "ns": str(seconds * 1_000_000_000 + 250_000_000),
    }[unit]
    path = tmp_path / "t.csv"
    path.write_text(f"timestamp,price,size\n{value},1,1\n")
    expected = instant if unit != "s" else instant.replace(microsecond=0)
    frame = _ingest(path, tmp_path / "out")
    assert frame["timestamp"].to_list() == [expected]


def test_nanosecond_epochs_stay_exact(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("timestamp,price,size\n1704189600123456789,1,1\n")
    stamp = _ingest(path, tmp_path / "out")["timestamp"].cast(pl.Int64)[0]
    assert stamp == 1704189600123456789


def test_a_file_mixing_epoch_units_is_refused_with_its_rows(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "timestamp,price,size\n1735689540000,1,1\n1735689600000,1,1\n1735689660000000,1,1\n"
    )
    error = _refused(tmp_path, path)
    assert error.rule == "mixed_epoch_units"
    assert str(path) in str(error)
    assert "row 3: 1735689660000000 (reads as us)" in str(error)
    assert "data.timestamp.unit" in str(error)


def test_numbers_too_small_for_any_epoch_unit_are_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("timestamp,price,size\n1,1,1\n2,1,1\n")
    error = _refused(tmp_path, path)
    assert error.rule == "epoch_unit" and "data.timestamp.unit" in str(error)


def test_a_configured_unit_wins_over_detection(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("timestamp,price,size\n1704189600,1,1\n")  # 2024 in s, 1970 in ms
    ms = TimestampConfig(format=None, unit="ms", timezone="UTC")
    stamp = _ingest(path, tmp_path / "out", timestamp=ms)["timestamp"][0]
    assert stamp == datetime(1970, 1, 20, 17, 23, 9, 600_000, tzinfo=UTC)


# --- precision and nulls --------------------------------------------------------------


def test_nanosecond_iso_timestamps_stay_exact(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "timestamp,price,size\n2024-01-02T10:00:00.1Z,1,1\n2024-01-02T10:00:00.123456789Z,1,1\n"
    )
    assert _ingest(path, tmp_path / "out")["timestamp"].cast(pl.Int64)[-1] % 1000 == 789


# --- the config key ------------------------------------------------------------------------


DATA_CONFIGS = sorted((Path(__file__).parents[2] / "conf" / "data").glob("*.yaml"))


@pytest.mark.parametrize("path", DATA_CONFIGS, ids=[p.stem for p in DATA_CONFIGS])
def test_every_data_config_has_a_csv_section(path):
    """dvc.yaml's ingest stage lists `csv` as a param: DVC fails on a file without it."""
    from omegaconf import OmegaConf

    from qraptor.core.config import to_schema

    section = OmegaConf.load(path)
    assert "csv" in section
    assert to_schema(section, DataConfig, "data").csv.header is section.csv.header
    with pytest.raises(ConfigError) as caught:
        to_schema(OmegaConf.merge(section, {"csv": {"header": "perhaps"}}), DataConfig, "data")
    assert caught.value.key == "data.csv.header"
