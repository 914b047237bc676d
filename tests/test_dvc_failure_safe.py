"""A failing stage under `dvc repro` keeps its previous outputs, byte for byte.

DVC deletes a stage's outputs before its command runs unless they are `persist: true`; the
stages then replace them atomically, all together and whole, only on success. Here, in a
copy of the project on the shipped EUR/USD sample (read as the user's own files, the
README's "Your own data" path), a good `dvc repro split` is followed by a refused input
file, a bad config value and a too-short series: each fails with its error named, leaves
every output of the failing stage and of the stages after it as it was (and `dvc.lock`
too), and a good run afterwards succeeds again. Data stages only, to stay quick.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from project_copy import copy_project, run

pytestmark = pytest.mark.slow

DATA_STAGES = ("raw", "ingest", "clean", "reduce", "features", "split")
RAW = Path("data/raw/mine")


def ran_stages(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def status(repo: Path) -> str:
    """`dvc status --json` of the data stages (what `dvc repro split` would run)."""
    return run(["dvc", "status", "split", "--with-deps", "--json"], repo).stdout


def stage_outputs(repo: Path) -> dict[str, list[str]]:
    """Each data stage's outputs as dvc.yaml declares them (outs, metrics and plots)."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc:
        stages = {stage.name: stage for stage in dvc.index.stages}
        return {name: [out.def_path for out in stages[name].outs] for name in DATA_STAGES}


def fingerprint(repo: Path, paths: list[str]) -> dict[str, str]:
    """sha256 of every file under `paths` (a missing output is recorded as missing)."""
    found: dict[str, str] = {}
    for name in paths:
        root = repo / name
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            key = str(path.relative_to(repo))
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "-"
    return found


@contextmanager
def changed(path: Path, text: str) -> Iterator[None]:
    """`path` holds `text` inside the block and its original content after it."""
    original = path.read_bytes()
    path.write_text(text, encoding="utf-8")
    try:
        yield
    finally:
        path.write_bytes(original)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, sample_eurusd_csv: Path) -> Path:
    """A copy of the project (what a clone has) whose data source is the sample CSV under
    data/raw/mine/ (conf/data/mine.yaml: the sample's mapping, source `files`)."""
    dest = copy_project(tmp_path_factory.mktemp("qraptor-failsafe"))
    (dest / RAW).mkdir(parents=True)
    shutil.copyfile(sample_eurusd_csv, dest / RAW / "eurusd.csv")
    conf = yaml.safe_load((dest / "conf/data/sample_eurusd.yaml").read_text())
    files = yaml.safe_load((dest / "conf/data/files.yaml").read_text())["files"]
    conf.update(name="mine", source="files", sample=None)
    conf["files"] = {**files, "glob": f"{RAW.as_posix()}/*.csv"}
    (dest / "conf/data/mine.yaml").write_text(yaml.safe_dump(conf, sort_keys=False))
    pipeline = dest / "conf/pipeline.yaml"
    text = pipeline.read_text()
    assert "data: sample_eurusd" in text
    pipeline.write_text(text.replace("data: sample_eurusd", "data: mine", 1))
    return dest


@pytest.fixture(scope="module")
def good(project: Path) -> dict[str, str]:
    """The first good run: every data stage runs; the fingerprint of all their outputs."""
    done = run(["dvc", "repro", "split"], project)
    assert set(ran_stages(done.stdout)) == set(DATA_STAGES)
    outputs = stage_outputs(project)
    return fingerprint(project, [p for name in DATA_STAGES for p in outputs[name]])


def _failed(done: subprocess.CompletedProcess[str], stage: str) -> str:
    """The run failed in `stage`: the text of the error, without a traceback."""
    text = done.stdout + done.stderr
    assert done.returncode != 0, text
    assert ran_stages(done.stdout)[-1] == stage, text
    assert "Traceback" not in text, text
    assert f"failed to reproduce '{stage}'" in text, text
    return text


def _unchanged_from(project: Path, good: dict[str, str], lock: dict, stage: str) -> None:
    """`stage`'s outputs and those of every later data stage are as in the good run, byte
    for byte (no file more, none less), and so are their entries in dvc.lock: DVC records
    nothing new for them."""
    outputs = stage_outputs(project)
    later = DATA_STAGES[DATA_STAGES.index(stage) :]
    paths = [p for name in later for p in outputs[name]]
    assert fingerprint(project, paths) == {k: v for k, v in good.items() if _under(k, paths)}
    now = read_lock(project)
    assert {name: now.get(name) for name in later} == {name: lock.get(name) for name in later}
    for name in paths:  # no debris of the stage's temporaries next to its outputs
        parent = (project / name).parent
        assert not [p.name for p in parent.iterdir() if p.name.endswith(".tmp")]


def _under(key: str, paths: list[str]) -> bool:
    return any(key == p or key.startswith(f"{p}/") for p in paths)


def read_lock(project: Path) -> dict:
    """dvc.lock's stages, by name."""
    return yaml.safe_load((project / "dvc.lock").read_text())["stages"]


def test_good_run_writes_every_output(project: Path, good: dict[str, str]):
    assert any(key.startswith("data/processed/dataset/") for key in good)
    assert all(value != "-" for value in good.values())
    assert "reports/metrics/split.json" in good and "reports/figures/bars.png" in good


def test_a_refused_input_file_keeps_the_previous_outputs(project: Path, good: dict[str, str]):
    lock = read_lock(project)
    bad = project / RAW / "zz-bad.csv"
    sample = (project / RAW / "eurusd.csv").read_text().splitlines()
    header, row = sample[0], sample[-1].split(",")
    later = row[0].replace("2017", "2018", 1)  # after the sample, so only the value is wrong
    bad.write_text(f"{header}\n{later},{row[1]},{row[2]},{row[3]},1.2x,{row[5]}\n")
    try:
        text = _failed(run(["dvc", "repro", "split"], project, check=False), "ingest")
        assert "zz-bad.csv" in text and "not_numeric" in text and "1.2x" in text
        _unchanged_from(project, good, lock, "raw")
    finally:
        bad.unlink()


def test_a_bad_config_value_keeps_the_previous_outputs(project: Path, good: dict[str, str]):
    lock = read_lock(project)
    conf = project / "conf/reduce/hourly.yaml"
    text = conf.read_text()
    assert re.search(r"^freq: ", text, flags=re.MULTILINE)
    with changed(conf, re.sub(r"^freq: .*$", "freq: banana", text, flags=re.MULTILINE)):
        error = _failed(run(["dvc", "repro", "split"], project, check=False), "reduce")
        assert "reduce.freq" in error and "banana" in error
        _unchanged_from(project, good, lock, "raw")


def test_a_too_short_series_keeps_the_previous_outputs(project: Path, good: dict[str, str]):
    """A short input file: ingest, clean and reduce succeed on it (their new outputs are
    recorded), then features or split refuses it; what that stage and the ones after it
    wrote in the good run stays."""
    lock = read_lock(project)
    csv = project / RAW / "eurusd.csv"
    lines = csv.read_text().splitlines(keepends=True)
    with changed(csv, "".join(lines[:250])):
        done = run(["dvc", "repro", "split"], project, check=False)
        stage = ran_stages(done.stdout)[-1]
        assert stage in ("features", "split"), done.stdout + done.stderr
        text = _failed(done, stage)
        assert "bars" in text
        errors = [line for line in text.splitlines() if line.startswith("error: ")]
        assert errors and re.search(r"\[\w+\]", errors[0]), text  # file, rule and problem
        # the stages before it recorded their success; it alone is left to run
        assert set(yaml.safe_load(status(project))) == {stage}
        _unchanged_from(project, good, lock, stage)


def test_a_good_run_afterwards_succeeds_and_reproduces_the_first(
    project: Path, good: dict[str, str]
):
    assert ran_stages(run(["dvc", "repro", "split"], project).stdout)  # it reran and succeeded
    outputs = stage_outputs(project)
    data = [p for name in DATA_STAGES for p in outputs[name] if not p.endswith(".png")]
    now = fingerprint(project, data)
    assert now == {key: value for key, value in good.items() if key in now}
    assert yaml.safe_load(status(project)) in ({}, None)


def test_a_smaller_output_set_leaves_no_stale_files(project: Path, good: dict[str, str]):
    """Persistent outputs are not cleared by DVC: the stage replaces its folder whole, so
    fewer walk-forward folds leave no fold file of the earlier run behind."""
    folds = project / "data/processed/dataset/folds"
    before = sorted(p.name for p in folds.iterdir())
    assert len(before) > 2
    conf = project / "conf/split/default.yaml"
    text = conf.read_text()
    assert re.search(r"^  n_folds: \d+", text, flags=re.MULTILINE)
    with changed(conf, re.sub(r"^  n_folds: \d+", "  n_folds: 2", text, flags=re.MULTILINE)):
        assert ran_stages(run(["dvc", "repro", "split"], project).stdout) == ["split"]
        assert sorted(p.name for p in folds.iterdir()) == before[:2]
        assert yaml.safe_load(status(project)) in ({}, None)
