"""The bulk-dump connector against a real HTTP server serving recorded Binance-style zips and
their .CHECKSUM files: verified files land as published, a corrupt file or a missing day is
refused by name, a rerun reuses verified files, and the data folder's bytes do not depend on
when or where it was downloaded (the time goes to the stage's metrics only)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from recorded import FIXTURES, RecordedServer

from qraptor.cli.data_stages import run_ingest
from qraptor.cli.main import main
from qraptor.core.errors import DataError
from qraptor.data.download import download
from qraptor.data.download.config import DumpsConfig
from qraptor.data.download.record import RECORD_NAME
from qraptor.data.parts import read_folder
from qraptor.data.pipeline_config import load_pipeline_config

KLINES = FIXTURES / "binance/data/spot/daily/klines/BTCUSDT/1m"
DAYS = ("2024-12-31", "2025-01-01")


def _cfg(server: RecordedServer, **changes: object) -> DumpsConfig:
    cfg = DumpsConfig(
        base_url=server.url,
        path="data/spot/{period}/klines/{symbol}/{interval}/{symbol}-{interval}-{date}.zip",
        symbol="BTCUSDT",
        interval="1m",
        period="daily",
        start=DAYS[0],
        end=DAYS[1],
        verify_checksum=True,
        on_missing="fail",
        timeout_seconds=5,
        retries=0,
    )
    return replace(cfg, **changes)


@pytest.fixture
def mirror(recorded_server: RecordedServer) -> RecordedServer:
    recorded_server.root = FIXTURES / "binance"
    return recorded_server


def test_days_are_downloaded_verified_and_kept_as_published(mirror, tmp_path):
    out = tmp_path / "raw"
    metrics = download("dumps", _cfg(mirror), out, timezone="UTC")

    names = [f"BTCUSDT-1m-{day}.zip" for day in DAYS]
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, RECORD_NAME])
    for name in names:
        assert (out / name).read_bytes() == (KLINES / name).read_bytes()
    record = json.loads((out / RECORD_NAME).read_text())
    published = {n: (KLINES / f"{n}.CHECKSUM").read_text().split()[0] for n in names}
    assert {f["file"]: f["sha256"] for f in record["files"]} == published
    assert {f["checksum"] for f in record["files"]} == {"verified"}
    assert record["files"][0]["url"] == f"{mirror.url}/data/spot/daily/klines/BTCUSDT/1m/{names[0]}"
    assert "downloaded_at" not in record  # the time is in the stage's metrics, not the data
    assert metrics["downloaded_at"].endswith("Z") and metrics["files"] == record["files"]
    assert f"/data/spot/daily/klines/BTCUSDT/1m/{names[0]}.CHECKSUM" in mirror.paths()


def test_a_file_that_does_not_match_its_checksum_is_refused_and_the_old_data_kept(
    recorded_server, tmp_path
):
    out = tmp_path / "raw"
    out.mkdir()
    (out / "previous.csv").write_text("the previous good download\n")
    recorded_server.root = FIXTURES / "binance-corrupt"
    with pytest.raises(DataError) as caught:
        download("dumps", _cfg(recorded_server, end=DAYS[0]), out, timezone="UTC")
    error = caught.value
    assert error.rule == "checksum"
    assert error.path.endswith("/BTCUSDT-1m-2024-12-31.zip")
    assert "does not match the published" in error.problem
    assert [p.name for p in out.iterdir()] == ["previous.csv"]  # untouched, no debris
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]


def test_a_missing_day_is_reported_plainly_or_skipped_and_listed(mirror, tmp_path):
    late = _cfg(mirror, end="2025-01-02")
    with pytest.raises(DataError) as caught:
        download("dumps", late, tmp_path / "raw", timezone="UTC")
    assert caught.value.rule == "missing_file"
    assert caught.value.path.endswith("BTCUSDT-1m-2025-01-02.zip")
    assert "no daily file for 2025-01-02 (HTTP 404)" in caught.value.problem
    assert "on_missing: skip" in caught.value.problem
    assert not (tmp_path / "raw").exists()

    metrics = download("dumps", replace(late, on_missing="skip"), tmp_path / "raw", timezone="UTC")
    assert [f["file"] for f in metrics["files"]] == [f"BTCUSDT-1m-{d}.zip" for d in DAYS]
    assert [m["date"] for m in metrics["missing"]] == ["2025-01-02"]


def test_a_file_without_a_published_checksum_is_refused_unless_unchecked(mirror, tmp_path):
    root = tmp_path / "mirror"
    target = root / "data/spot/daily/klines/BTCUSDT/1m"
    target.mkdir(parents=True)
    (target / "BTCUSDT-1m-2024-12-31.zip").write_bytes(
        (KLINES / "BTCUSDT-1m-2024-12-31.zip").read_bytes()
    )
    mirror.root = root
    cfg = _cfg(mirror, end=DAYS[0])
    with pytest.raises(DataError, match=r"no \.CHECKSUM next to it") as caught:
        download("dumps", cfg, tmp_path / "raw", timezone="UTC")
    assert caught.value.rule == "checksum"
    metrics = download(
        "dumps", replace(cfg, verify_checksum=False), tmp_path / "raw", timezone="UTC"
    )
    assert metrics["files"][0]["checksum"] == "not checked"


def test_a_rerun_reuses_verified_files_and_writes_the_same_bytes(mirror, tmp_path):
    out = tmp_path / "raw"
    first = download("dumps", _cfg(mirror), out, timezone="UTC")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    mirror.requests.clear()
    second = download("dumps", _cfg(mirror), out, timezone="UTC")
    assert all(p.endswith(".CHECKSUM") for p in mirror.paths())  # no zip fetched again
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert {k: v for k, v in first.items() if k != "downloaded_at"} == {
        k: v for k, v in second.items() if k != "downloaded_at"
    }


def test_monthly_dumps_and_aggregate_trades(mirror, tmp_path):
    aggs = _cfg(
        mirror,
        path="data/spot/{period}/aggTrades/{symbol}/{symbol}-aggTrades-{date}.zip",
        interval=None,
    )
    metrics = download("dumps", aggs, tmp_path / "agg", timezone="UTC")
    assert [f["file"] for f in metrics["files"]] == [f"BTCUSDT-aggTrades-{d}.zip" for d in DAYS]
    monthly = _cfg(mirror, period="monthly", start="2024-12-01", end="2025-01-31")
    with pytest.raises(DataError, match="no monthly file for 2024-12") as caught:
        download("dumps", monthly, tmp_path / "monthly", timezone="UTC")
    assert caught.value.path.endswith("/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-12.zip")


def test_qraptor_data_download_writes_the_data_and_the_stage_metrics(mirror, tmp_path, capsys):
    out, metrics = tmp_path / "raw", tmp_path / "metrics" / "raw.json"
    status = main(
        [
            "data",
            "download",
            "--out",
            str(out),
            "--metrics",
            str(metrics),
            "data=binance_klines",
            f"data.dumps.base_url={mirror.url}",
            f"data.dumps.start={DAYS[0]}",
            f"data.dumps.end={DAYS[1]}",
        ]
    )
    assert status == 0
    written = json.loads(metrics.read_text())
    assert written["source"] == "dumps" and len(written["files"]) == 2
    assert "downloaded_at" in written and "downloaded 2 file(s)" in capsys.readouterr().err

    status = main(["data", "download", "--out", str(out), "data=sample_eurusd"])
    assert status == 2
    printed = " ".join(capsys.readouterr().err.split())
    assert "config key 'data.source': 'sample' downloads nothing" in printed


@pytest.mark.parametrize(
    ("conf", "path", "rows"),
    [
        (
            "binance_klines",
            "data/spot/{period}/klines/{symbol}/{interval}/{symbol}-{interval}-{date}.zip",
            10,
        ),
        (
            "binance_aggtrades",
            "data/spot/{period}/aggTrades/{symbol}/{symbol}-aggTrades-{date}.zip",
            12,
        ),
    ],
)
def test_the_conf_file_ingests_the_zips_across_the_ms_to_us_switch(
    mirror, tmp_path, conf, path, rows
):
    """2024-12-31 is stamped in ms and 2025-01-01 in us (Binance's spot switch): ingest
    detects the unit per file and both days land at their own dates."""
    cfg = load_pipeline_config(
        [
            f"data={conf}",
            f"data.dumps.base_url={mirror.url}",
            f"data.dumps.start={DAYS[0]}",
            f"data.dumps.end={DAYS[1]}",
        ]
    )
    assert cfg.data.dumps is not None and cfg.data.dumps.path == path
    raw = tmp_path / "raw"
    download("dumps", cfg.data.dumps, raw, timezone="UTC")
    manifest = run_ingest(cfg, raw, tmp_path / "ingested")
    frame = read_folder(tmp_path / "ingested")
    assert manifest["rows"] == frame.height == rows
    days = frame["timestamp"].dt.date().unique().sort().to_list()
    assert [d.isoformat() for d in days] == list(DAYS)
    assert frame["timestamp"][0] == datetime(2024, 12, 31, tzinfo=UTC)
    if conf == "binance_klines":
        assert frame["open"][0] == pytest.approx(93_500.0)
        assert frame["trades"].to_list()[:2] == [40, 41]
