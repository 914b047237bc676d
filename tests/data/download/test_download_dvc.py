"""The download as DVC's `raw` stage, in two copies of the repository in different folders,
both fetching the recorded Binance dumps from a local server: DVC caches the zips, the data
hash in dvc.lock is the same in both (the download time lives in reports/metrics/raw.json,
outside it), an unchanged source is not fetched again, and a changed one is."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from project_copy import commit_all, copy_project, run
from recorded import FIXTURES, RecordedServer

from qraptor.data.parts import read_manifest

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path) -> str:
    done = run(args, cwd, check=False)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _copy(dest: Path, server: RecordedServer) -> Path:
    """The repository's files, set to download 2024-12-31..2025-01-01 from `server`."""
    copy_project(dest, skip=("tests/",))
    pipeline = dest / "conf/pipeline.yaml"
    pipeline.write_text(re.sub(r"(?m)^  data: \S+", "  data: binance_klines", pipeline.read_text()))
    _configure(dest, base_url=server.url, end="2025-01-01")
    commit_all(dest, "c")
    return dest


def _configure(repo: Path, **values: str) -> None:
    path = repo / "conf/data/binance_klines.yaml"
    text = path.read_text()
    values = {"start": "2024-12-31", **values}
    for key, value in values.items():
        text = re.sub(rf"(?m)^  {key}: \S+", f'  {key}: "{value}"', text)
    path.write_text(text)


def _raw_out(repo: Path) -> dict[str, object]:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return next(o for o in lock["stages"]["raw"]["outs"] if o["path"] == "data/raw/generated")


def test_two_clones_download_the_same_bytes_and_dvc_skips_an_unchanged_source(
    recorded_server, tmp_path
):
    recorded_server.root = FIXTURES / "binance"
    first = _copy(tmp_path / "one", recorded_server)
    second = _copy(tmp_path / "elsewhere" / "two", recorded_server)

    for repo in (first, second):
        assert "Running stage 'raw'" in _run(["dvc", "repro", "raw"], repo)
    assert _raw_out(first)["md5"] == _raw_out(second)["md5"]  # same data hash, other folder
    downloaded = sorted(p.name for p in (first / "data/raw/generated").iterdir())
    assert downloaded == ["BTCUSDT-1m-2024-12-31.zip", "BTCUSDT-1m-2025-01-01.zip", "download.json"]
    metrics = json.loads((first / "reports/metrics/raw.json").read_text())
    assert metrics["source"] == "dumps" and metrics["downloaded_at"].endswith("Z")
    assert {f["checksum"] for f in metrics["files"]} == {"verified"}
    assert _run(["dvc", "metrics", "show"], first).count("raw.json") >= 1

    _run(["dvc", "repro", "ingest"], first)  # the zips, headerless, ms then us: 10 bars
    ingested = read_manifest(first / "data/interim/ingested")
    assert ingested["rows"] == 10 and ingested["kind"] == "bars"

    recorded_server.requests.clear()
    assert "didn't change, skipping" in _run(["dvc", "repro", "raw"], first)
    assert recorded_server.requests == []  # cached: nothing fetched

    _configure(first, base_url=recorded_server.url, end="2024-12-31")
    assert "Running stage 'raw'" in _run(["dvc", "repro", "raw"], first)
    assert sorted(p.name for p in (first / "data/raw/generated").iterdir()) == [
        "BTCUSDT-1m-2024-12-31.zip",
        "download.json",
    ]
