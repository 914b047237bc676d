"""`qraptor train` (and its alias `python -m qraptor.train`) as a user runs it: one session,
a bad config, sweeps with the basic launcher, joblib and Optuna (subprocesses; tiny sessions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TINY = ("experiment=tiny",)


QRAPTOR = str(Path(sys.executable).with_name("qraptor"))


def _train(
    project_root: Path,
    *args: str,
    command: tuple[str, ...] = (sys.executable, "-m", "qraptor.train"),
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    env.pop("COLUMNS", None)  # piped output is 80 columns unless COLUMNS says otherwise
    return subprocess.run(
        [*command, *args],
        cwd=project_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _session_files(folder: Path) -> None:
    for name in ("model.zip", "config.yaml", "metrics.json", "eval/val/trades.csv"):
        assert (folder / name).is_file(), f"{folder / name} missing"
    # the model card, its config diff made against defaults composed inside Hydra's app
    card = (folder / "model_card.md").read_text()
    assert "- `session.total_timesteps: 256 (default 200000)`" in card, card


def test_train_help_lists_examples(project_root) -> None:
    done = _train(project_root, "--help", command=(QRAPTOR, "train"))
    assert done.returncode == 0, done.stderr
    assert "qraptor train experiment=tiny" in done.stdout and "-m session.seed=0,1,2" in done.stdout
    listed = subprocess.run([QRAPTOR, "--help"], capture_output=True, text=True, timeout=60)
    assert "train" in listed.stdout


def test_one_session_prints_its_summary(project_root, tiny_dataset, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = _train(
        project_root, *TINY, f"session.dataset={tiny_dataset}", f"hydra.run.dir={out}",
        command=(QRAPTOR, "train"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    _session_files(out)
    assert "buy_and_hold" in done.stdout and "objective" in done.stdout
    objective = json.loads((out / "metrics.json").read_text())["objective"]
    assert f"objective val/agent/sharpe = {objective}" in done.stdout
    verdict = json.loads((out / "metrics.json").read_text())["splits"]["val"]["verdict"]
    printed = " ".join(done.stdout.split())  # the caption wraps at the table's width
    assert f"val: {verdict['text']}" in printed and "PSR" in done.stdout  # issue 14
    # piped, the table fits 80 columns (issue 18); the lines naming paths are never cut
    table = done.stdout[: done.stdout.index("objective val/agent/sharpe")]
    assert max(len(line) for line in table.splitlines()) <= 80, table
    assert f"outputs in {out}" in done.stdout


def test_a_bad_config_is_one_readable_line(project_root, tiny_dataset, tmp_path: Path) -> None:
    done = _train(
        project_root, *TINY, "session.n_envs=0", f"session.dataset={tiny_dataset}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )  # fmt: skip
    assert done.returncode == 2
    assert "session.n_envs" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run" / "model.zip").exists()


@pytest.mark.parametrize("launcher", ["basic", "joblib_local"])
def test_multirun_sweeps(project_root, tiny_dataset, tmp_path: Path, launcher: str) -> None:
    sweep = tmp_path / "sweep"
    done = _train(
        project_root, "-m", *TINY, f"hydra/launcher={launcher}", "session.seed=0,1",
        f"session.dataset={tiny_dataset}", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for job in ("0", "1"):
        _session_files(sweep / job)
    seeds = [
        yaml.safe_load((sweep / j / "config.yaml").read_text())["session"]["seed"] for j in "01"
    ]
    assert seeds == [0, 1]


def test_optuna_sweep_maximises_the_objective(project_root, tiny_dataset, tmp_path: Path) -> None:
    sweep = tmp_path / "optuna"
    done = _train(
        project_root, "hparams_search=ppo_optuna", *TINY, "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=1", f"session.dataset={tiny_dataset}", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    objectives = [json.loads((sweep / j / "metrics.json").read_text())["objective"] for j in "01"]
    assert results["best_value"] == pytest.approx(max(objectives))
    assert set(results["best_params"]) >= {"algo.learning_rate", "algo.n_epochs"}
