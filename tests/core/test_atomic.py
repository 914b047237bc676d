"""Outputs of one step replaced all or none (what keeps a failing DVC stage's outputs whole)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qraptor.core.atomic import atomic_outputs, write_json_atomic


def _old_outputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    folder, metrics, figure = tmp_path / "dataset", tmp_path / "m.json", tmp_path / "f.png"
    (folder / "folds").mkdir(parents=True)
    for k in range(4):
        (folder / "folds" / f"fold-{k:02d}.parquet").write_bytes(b"old fold")
    metrics.write_text("old metrics")
    figure.write_bytes(b"old figure")
    return folder, metrics, figure


def _tree(tmp_path: Path) -> dict[str, bytes]:
    files = (p for p in tmp_path.rglob("*") if p.is_file())
    return {str(p.relative_to(tmp_path)): p.read_bytes() for p in files}


def test_a_failure_after_some_outputs_were_written_leaves_every_old_one(tmp_path: Path) -> None:
    folder, metrics, figure = _old_outputs(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(RuntimeError, match="figure failed"), atomic_outputs() as outputs:
        (outputs.dir(folder) / "dataset.parquet").write_bytes(b"new")
        write_json_atomic(outputs.path(metrics), {"new": 1})
        outputs.path(figure)
        raise RuntimeError("figure failed")  # the last output could not be made
    assert _tree(tmp_path) == before  # no mix of new and old, no temporaries left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset", "f.png", "m.json"]


def test_success_replaces_every_output_whole(tmp_path: Path) -> None:
    folder, metrics, figure = _old_outputs(tmp_path)
    with atomic_outputs() as outputs:
        new = outputs.dir(folder)
        (new / "folds").mkdir()
        for k in range(2):  # fewer folds than before
            (new / "folds" / f"fold-{k:02d}.parquet").write_bytes(b"new fold")
        write_json_atomic(outputs.path(metrics), {"new": 1})
        outputs.path(figure).write_bytes(b"new figure")
        assert metrics.read_text() == "old metrics"  # nothing replaced before the end
    assert sorted(p.name for p in (folder / "folds").iterdir()) == [
        "fold-00.parquet",
        "fold-01.parquet",
    ]  # the folder is replaced whole: no stale fold files
    assert metrics.read_text() == '{\n  "new": 1\n}\n'
    assert figure.read_bytes() == b"new figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset", "f.png", "m.json"]
