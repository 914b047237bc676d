"""Part-folder manifests name files relative to the project root, so DVC's hash of a stage's
output folder does not depend on where the project was cloned (issue 13, problem 10)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qraptor.core.atomic import write_json_atomic
from qraptor.data.clean.frame import CleanConfig, clean_folder
from qraptor.data.ingest.files import ingest_files
from qraptor.data.ingest.timestamps import TimestampConfig
from qraptor.data.parts import read_manifest, write_manifest
from qraptor.data.pipeline_config import load_pipeline_section
from qraptor.data.sources import DataConfig, raw_files

TICKS = {"timestamp": "timestamp", "price": "price", "size": "size"}


def _project(root: Path) -> Path:
    folder = root / "data/raw/my_ticks"
    folder.mkdir(parents=True)
    for day in (2, 3):
        (folder / f"2024-01-0{day}.csv").write_text(
            f"timestamp,price,size\n2024-01-0{day}T00:00:00Z,100.5,3\n"
            f"2024-01-0{day}T00:00:01Z,100.25,1\n"
        )
    return root


def test_ingest_and_clean_manifests_hold_paths_relative_to_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project_root: Path
):
    root = _project(tmp_path / "somewhere" / "qraptor")
    shutil.copytree(project_root / "conf", root / "conf")
    monkeypatch.delenv("QRAPTOR_CONF_DIR", raising=False)
    monkeypatch.chdir(root)  # a DVC stage runs in the project root
    data = load_pipeline_section("data", DataConfig, ["data=files"], conf_dir=root / "conf")
    files = raw_files(data, root / "data/raw/generated", root=Path.cwd())
    assert all(f.is_absolute() for f in files)  # what the stage hands to ingest
    ingest_files(
        files,
        root / "data/interim/ingested",
        kind="ticks",
        columns=TICKS,
        timestamp=TimestampConfig(format=None, unit=None, timezone="UTC"),
    )
    names = ["data/raw/my_ticks/2024-01-02.csv", "data/raw/my_ticks/2024-01-03.csv"]
    assert read_manifest(root / "data/interim/ingested")["files"] == names

    clean = load_pipeline_section("clean", CleanConfig, conf_dir=root / "conf")
    clean_folder(
        root / "data/interim/ingested",
        root / "data/interim/clean",
        "ticks",
        clean,
        root / "data/tmp",
    )
    assert read_manifest(root / "data/interim/clean")["files"] == names
    for path in (root / "data/interim").rglob("*.json"):
        assert str(tmp_path) not in path.read_text(), path


def test_a_path_outside_the_project_stays_as_configured(tmp_path: Path):
    outside = tmp_path / "vendor" / "dump.csv"
    root = tmp_path / "project"
    write_manifest(tmp_path, {"files": [outside, str(root / "a" / "b.csv")], "rows": 3}, root)
    manifest = read_manifest(tmp_path)
    assert manifest == {"files": [str(outside), "a/b.csv"], "rows": 3}


def test_metrics_json_has_no_negative_zero_nan_or_numpy_scalars(tmp_path: Path):
    path = tmp_path / "m.json"
    payload = {
        "b": -0.0,
        "a": [np.float64(-0.0), np.int64(3), float("nan"), np.float32(0.5)],
        "c": {"d": np.bool_(True), "e": -1e-300},
    }
    write_json_atomic(path, payload)
    text = path.read_text()
    assert "-0.0" not in text and "NaN" not in text
    assert json.loads(text) == {"b": 0.0, "a": [0.0, 3, None, 0.5], "c": {"d": True, "e": -1e-300}}
    assert list(json.loads(text)) == ["b", "a", "c"]  # the writer's order, not re-sorted
