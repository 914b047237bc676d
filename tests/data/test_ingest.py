"""Ingest: users' files in many shapes become canonical UTC Parquet parts, or a clear error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from qraptor.core.errors import ConfigError, DataError
from qraptor.core.paths import project_root
from qraptor.data.ingest.files import ingest_files
from qraptor.data.ingest.timestamps import TimestampConfig
from qraptor.data.parts import read_folder, read_manifest

TICKS = {"timestamp": "timestamp", "price": "price", "size": "size"}
UTC_ISO = TimestampConfig(format=None, unit=None, timezone="UTC")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_eurusd_bars_ingest_with_format_and_lineage(sample_eurusd_csv: Path, tmp_path):
    out = tmp_path / "ingested"
    manifest = ingest_files(
        [sample_eurusd_csv],
        out,
        kind="bars",
        columns={
            "timestamp": "Time",
            "open": "Open",
            "high": "High",
            "low": "Low",
            "close": "Close",
            "volume": "Volume",
        },
        timestamp=TimestampConfig(format="%d.%m.%Y %H:%M:%S%.3f", unit=None, timezone="UTC"),
    )
    frame = read_folder(out)
    assert manifest["rows"] == frame.height == 6225
    assert frame.schema["timestamp"] == pl.Datetime("ns", "UTC")
    assert frame["timestamp"][0] == datetime(2017, 1, 1, 22, tzinfo=UTC)
    assert frame["open"][0] == pytest.approx(1.05236)
    assert frame["src_row"].to_list()[:3] == [1, 2, 3]
    assert set(frame["src_file"].unique()) == {0}
    # recorded relative to the project root when inside it (a clone elsewhere, same bytes)
    (recorded,) = read_manifest(out)["files"]
    assert (project_root() / recorded).resolve() == Path(sample_eurusd_csv).resolve()


def test_folder_of_daily_files_keeps_file_order_and_rows(tmp_path):
    files = []
    for day in (2, 3, 4):
        files.append(
            _write(
                tmp_path / f"2024-01-0{day}.csv",
                "ts_ms,px,qty\n"
                f"{1704153600000 + (day - 2) * 86_400_000},100.5,3\n"
                f"{1704153600500 + (day - 2) * 86_400_000},100.25,1\n",
            )
        )
    out = tmp_path / "ingested"
    manifest = ingest_files(
        files,
        out,
        kind="ticks",
        columns={"timestamp": "ts_ms", "price": "px", "size": "qty"},
        timestamp=TimestampConfig(format=None, unit="ms", timezone="UTC"),
        batch_rows=1,
    )
    frame = read_folder(out)
    assert manifest["rows_per_file"] == [2, 2, 2]
    assert frame["src_file"].to_list() == [0, 0, 1, 1, 2, 2]
    assert frame["src_row"].to_list() == [1, 2, 1, 2, 1, 2]
    assert frame["timestamp"][1] == datetime(2024, 1, 2, 0, 0, 0, 500_000, tzinfo=UTC)
    assert frame["price"].to_list()[:2] == [100.5, 100.25]
    assert manifest["parts"] == 3  # a part never mixes files


def test_local_exchange_time_is_converted_to_utc_across_dst(tmp_path):
    path = _write(
        tmp_path / "spy.csv",
        "Date,Open,High,Low,Close,Volume\n"
        "2024-03-08 09:30:00,10,11,9,10.5,100\n"  # EST, UTC-5
        "2024-03-11 09:30:00,10,11,9,10.5,100\n",
    )  # EDT, UTC-4
    out = tmp_path / "ingested"
    ingest_files(
        [path],
        out,
        kind="bars",
        columns={
            c.lower() if c != "Date" else "timestamp": c
            for c in ("Date", "Open", "High", "Low", "Close", "Volume")
        },
        timestamp=TimestampConfig(
            format="%Y-%m-%d %H:%M:%S", unit=None, timezone="America/New_York"
        ),
    )
    stamps = read_folder(out)["timestamp"].to_list()
    assert stamps == [
        datetime(2024, 3, 8, 14, 30, tzinfo=UTC),
        datetime(2024, 3, 11, 13, 30, tzinfo=UTC),
    ]


def test_iso_offsets_are_converted_and_parquet_input_works(tmp_path):
    csv = _write(
        tmp_path / "a.csv",
        "timestamp,price,size\n2024-01-02T10:00:00+01:00,1.5,2\n2024-01-02T09:00:01Z,1.6,1\n",
    )
    out = tmp_path / "from_csv"
    ingest_files([csv], out, kind="ticks", columns=TICKS, timestamp=UTC_ISO)
    stamps = read_folder(out)["timestamp"].to_list()
    assert stamps == [
        datetime(2024, 1, 2, 9, 0, tzinfo=UTC),
        datetime(2024, 1, 2, 9, 0, 1, tzinfo=UTC),
    ]

    parquet = tmp_path / "b.parquet"
    pl.DataFrame(
        {
            "t": [datetime(2024, 1, 2, 4, 0), datetime(2024, 1, 2, 4, 1)],
            "p": [1.0, 2.0],
            "q": [1, 2],
        }
    ).write_parquet(parquet)
    out = tmp_path / "from_parquet"
    ingest_files(
        [parquet],
        out,
        kind="ticks",
        columns={"timestamp": "t", "price": "p", "size": "q"},
        timestamp=TimestampConfig(None, None, "America/New_York"),
    )
    frame = read_folder(out)
    assert frame["timestamp"][0] == datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
    assert frame.schema["size"] == pl.Float64


BAD_FILES = {
    "empty.csv": (b"", "empty_file", None),
    "junk.csv": (bytes(range(256)) * 8, "not_data", None),
    "columns.csv": (b"a,b,c\n1,2,3\n", "wrong_columns", "the file has ['a', 'b', 'c']"),
    "timestamp.csv": (
        b"timestamp,price,size\n2024-01-02 10:00:00,1,1\n2024-01-02 10:00:01,1,1\nyesterday,1,1\n",
        "bad_timestamp",
        "row 3: timestamp='yesterday'",
    ),
    "number.csv": (
        b"timestamp,price,size\n2024-01-02T10:00:00Z,1,1\n2024-01-02T10:00:01Z,n/a?,1\n",
        "not_numeric",
        "row 2: price='n/a?'",
    ),
    "mixed.csv": (
        b"timestamp,price,size\n2024-01-02T10:00:00Z,1,1\n"
        b"2024-01-02T10:00:01,1,1\n2024-01-02T10:00:02Z,1,1\n",
        "mixed_timezones",
        "row 2: timestamp='2024-01-02T10:00:01'",
    ),
    "parquet.csv": (b"PAR1" + b"\x00" * 32, "not_data", "is a Parquet file"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_are_refused_by_name_with_rule_and_rows(name, tmp_path):
    content, rule, detail = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        ingest_files([path], tmp_path / "out", kind="ticks", columns=TICKS, timestamp=UTC_ISO)
    message = str(caught.value)
    assert str(path) in message
    assert caught.value.rule == rule
    if detail:
        assert detail in message
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary debris


def test_nonexistent_local_time_is_refused(tmp_path):
    path = _write(tmp_path / "dst.csv", "timestamp,price,size\n2024-03-10 02:30:00,1,1\n")
    with pytest.raises(DataError) as caught:
        ingest_files(
            [path],
            tmp_path / "out",
            kind="ticks",
            columns=TICKS,
            timestamp=TimestampConfig("%Y-%m-%d %H:%M:%S", None, "America/New_York"),
        )
    assert caught.value.rule == "ambiguous_local_time"
    assert "row 1" in str(caught.value)


def test_a_failed_ingest_keeps_the_previous_output(tmp_path):
    good = _write(tmp_path / "good.csv", "timestamp,price,size\n2024-01-02T10:00:00Z,1,1\n")
    bad = _write(tmp_path / "bad.csv", "timestamp,price,size\n2024-01-02T10:00:01Z,x,1\n")
    out = tmp_path / "out"
    ingest_files([good], out, kind="ticks", columns=TICKS, timestamp=UTC_ISO)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(DataError, match=r"bad\.csv"):
        ingest_files([good, bad], out, kind="ticks", columns=TICKS, timestamp=UTC_ISO)
    assert sorted(p.name for p in out.iterdir()) == before
    assert read_folder(out).height == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "good.csv", "out"]


def test_header_only_files_are_skipped_but_reported(tmp_path):
    holiday = _write(tmp_path / "2024-01-01.csv", "timestamp,price,size\n")
    day = _write(tmp_path / "2024-01-02.csv", "timestamp,price,size\n2024-01-02T10:00:00Z,1,1\n")
    manifest = ingest_files(
        [holiday, day], tmp_path / "out", kind="ticks", columns=TICKS, timestamp=UTC_ISO
    )
    assert manifest["skipped_empty_files"] == [str(holiday)]
    assert manifest["rows"] == 1


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"unit": "minutes"}, "unit"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"unit": "s", "format": "%Y"}, "format"),
    ],
)
def test_bad_timestamp_config_names_the_key(kwargs, key):
    values = {"format": None, "unit": None, "timezone": "UTC", **kwargs}
    with pytest.raises(ConfigError) as caught:
        TimestampConfig(**values)
    assert caught.value.key == key


def test_mapping_must_cover_the_required_columns(tmp_path):
    path = _write(tmp_path / "a.csv", "timestamp,price\n2024-01-02T10:00:00Z,1\n")
    with pytest.raises(ConfigError, match="size"):
        ingest_files(
            [path],
            tmp_path / "out",
            kind="ticks",
            columns={"timestamp": "timestamp", "price": "price"},
            timestamp=UTC_ISO,
        )
