"""Hashes that do not depend on where or on which machine the project runs (issue 13, #10).

Two copies of the project in folders of different depth run the data stages with `dvc repro`
on the same raw ticks (the user's-own-files source, so ingest records file paths). The
second copy stands in for another machine: numpy's SIMD dispatch limited to its baseline,
glibc's FMA variants off, one polars thread, another time zone. Every output must be
byte-identical, DVC must record the same hashes, and no output may contain either folder.

And the committed dvc.lock must describe the code and configuration of this tree: a stale
lock makes a fresh clone's `make demo` rerun stages and leave dvc.lock modified.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from project_copy import ROOT, copy_project, project_env

pytestmark = pytest.mark.slow

OUTPUT_FOLDERS = (
    "data/interim",
    "data/processed",
    "reports/metrics",
    "reports/plots",
    "reports/figures",
)
TICKS = "data/raw/my_ticks"


def _copy_project(dest: Path) -> Path:
    """A clone-like copy reading three days of generated ticks as the user's own files."""
    copy_project(dest, skip=("tests/", "notebooks/", "benchmarks/"))
    pipeline = dest / "conf/pipeline.yaml"
    text = re.sub(r"(?m)^(\s+data:\s*)\S+", r"\1files", pipeline.read_text())
    pipeline.write_text(re.sub(r"(?m)^(\s+reduce:\s*)\S+", r"\1minute", text))
    _write_ticks(dest / TICKS)
    return dest


def _write_ticks(folder: Path) -> None:
    """Three days of ticks, about 6 a minute, one file a day; prices are exact decimals (an
    integer random walk), so the input itself cannot differ between machines."""
    folder.mkdir(parents=True)
    state, price, second = 12345, 110_000, 0
    for day in (1, 2, 3):
        lines = ["timestamp,price,size"]
        while second < 86400 * day:
            state = (state * 1103515245 + 12345) % (1 << 31)  # a fixed LCG: no library
            second += 5 + state % 11
            price = max(price + state % 7 - 3, 1_000)
            stamp = (
                f"2024-01-{1 + second // 86400:02d}T{second // 3600 % 24:02d}:"
                f"{second // 60 % 60:02d}:{second % 60:02d}Z"
            )
            lines.append(f"{stamp},{price / 100_000:.5f},{1 + state % 97}.{state % 10}")
        (folder / f"day-{day}.csv").write_text("\n".join(lines) + "\n")


def _other_machine() -> dict[str, str]:
    """Environment variables that make this machine compute like a different one."""
    from numpy._core._multiarray_umath import (  # type: ignore[attr-defined]
        __cpu_baseline__,
        __cpu_dispatch__,
        __cpu_features__,
    )

    dispatched = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    extra = {
        "POLARS_MAX_THREADS": "1",
        "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-FMA4,-AVX512F",
        "TZ": "Asia/Tokyo",
    }
    if dispatched := [f for f in dispatched if f not in __cpu_baseline__]:
        extra["NPY_DISABLE_CPU_FEATURES"] = " ".join(dispatched)
    return extra


def _outputs(project: Path) -> dict[str, str]:
    """md5 of every file under the stages' output folders, by path relative to `project`."""
    found = {}
    for folder in OUTPUT_FOLDERS:
        for path in sorted((project / folder).rglob("*")):
            if path.is_file():
                found[path.relative_to(project).as_posix()] = hashlib.md5(
                    path.read_bytes()
                ).hexdigest()
    return found


def _lock_outs(project: Path) -> dict[str, str]:
    stages = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    return {o["path"]: o["md5"] for s in stages.values() for o in s.get("outs", [])}


def test_two_copies_in_different_folders_on_different_machines_write_identical_bytes(
    tmp_path: Path,
):
    first = _copy_project(tmp_path / "a" / "qraptor")
    second = _copy_project(tmp_path / "b" / "x" / "y")
    runs = [
        subprocess.Popen(
            ["dvc", "repro", "split"],
            cwd=project,
            env=project_env(project, extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for project, extra in ((first, None), (second, _other_machine()))
    ]
    for project, run in zip((first, second), runs, strict=True):
        output, _ = run.communicate(timeout=600)
        assert run.returncode == 0, f"dvc repro in {project} failed:\n{output}"

    outputs, theirs = _outputs(first), _outputs(second)
    assert {"data/processed/features.parquet", "reports/metrics/split.json"} <= set(outputs)
    assert any(name.startswith("data/interim/ingested/") for name in outputs)
    different = sorted(n for n in outputs.keys() | theirs.keys() if outputs.get(n) != theirs.get(n))
    assert different == [], f"outputs differ between the two copies: {different}"
    assert _lock_outs(first) == _lock_outs(second)
    manifest = json.loads((first / "data/interim/ingested/_manifest.json").read_text())
    assert manifest["files"] == [f"{TICKS}/day-{day}.csv" for day in (1, 2, 3)]
    for project in (first, second):
        for name in outputs:
            data = (project / name).read_bytes()
            for folder in (first, second, tmp_path):
                assert str(folder).encode() not in data, f"{name} holds the path {folder}"


def test_the_committed_dvc_lock_matches_this_trees_code_and_config():
    """What `dvc status` finds changed among the inputs no stage produces (code, conf/):
    each such change would rerun its stage on a fresh clone and modify dvc.lock there.
    Outputs need not be present (their own changes are left out)."""
    if (
        not (ROOT / "dvc.lock").is_file()
        or shutil.which("dvc", path=project_env(ROOT)["PATH"]) is None
    ):
        pytest.skip("no dvc.lock or no dvc here")
    env = project_env(ROOT)
    env.pop("PYTHONPATH")  # dvc itself needs none; the stages do not run
    done = subprocess.run(
        ["dvc", "status", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    stale = stale_inputs(
        json.loads(done.stdout or "{}"), yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    )
    assert stale == {}, "dvc.lock is stale (run `dvc repro` or `make demo`, commit dvc.lock): " + (
        "; ".join(f"{change} (stages {', '.join(stages)})" for change, stages in stale.items())
    )


def stale_inputs(status: dict, locked: dict) -> dict[str, list[str]]:
    """What changed since dvc.lock was written, among the inputs no stage writes: each
    changed command, code dependency or parameter, with the stages it reruns."""
    outs = [Path(o["path"]) for stage in locked.values() for o in stage.get("outs", [])]

    def produced(path: str) -> bool:  # an output, inside one, or holding one
        p = Path(path)
        return any(p == o or o in p.parents or p in o.parents for o in outs)

    stale: dict[str, list[str]] = {}
    for stage, entries in status.items():
        if stage.endswith(".dvc"):
            continue  # `dvc add`ed data, not a pipeline stage
        changes = []
        for entry in entries:
            if entry == "changed command" or (
                isinstance(entry, dict) and "changed command" in entry
            ):
                changes.append(f"the command of {stage}")
            if not isinstance(entry, dict):
                continue
            for path, change in (entry.get("changed deps") or {}).items():
                if isinstance(change, dict):  # params: {key: modified|new|deleted}
                    changes += [f"{path}: {key} {what}" for key, what in change.items()]
                elif not produced(path):
                    changes.append(f"{path} {change}")
        for change in changes:
            stale.setdefault(change, []).append(stage)
    return stale


def test_stale_inputs_names_code_and_params_but_not_missing_outputs():
    locked = {
        "split": {"outs": [{"path": "data/processed/dataset"}]},
        "features": {"outs": [{"path": "data/processed/features.parquet"}]},
        "raw": {"outs": [{"path": "data/raw/generated"}]},
    }
    status = {
        "split": [
            {
                "changed deps": {
                    "data/processed/features.parquet": "deleted",
                    "src/qraptor/evaluation/report.py": "modified",
                    "conf/split/default.yaml": {"embargo_bars": "modified"},
                }
            },
            {"changed outs": {"data/processed/dataset": "not in cache"}},
        ],
        "ingest": [{"changed deps": {"data/raw": "modified"}}],
        "evaluate": ["changed command"],
        "data/raw/my_ticks.dvc": [{"changed outs": {"data/raw/my_ticks": "modified"}}],
    }
    assert stale_inputs(status, locked) == {
        "src/qraptor/evaluation/report.py modified": ["split"],
        "conf/split/default.yaml: embargo_bars modified": ["split"],
        "the command of evaluate": ["evaluate"],
    }
