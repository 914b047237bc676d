"""Smoke test of benchmarks/train.py: `--quick` runs both parts and writes every figure.

Speed itself is not asserted (2 shared cores make timings noisy); what a reader of the
benchmark relies on is: the baseline really is SB3 PPO with its defaults and the judged row
really is the default session of conf/train.yaml, ratios are paired within rounds, each
target's verdict follows from its figure, the queued and in-process runs trained the same
session, and the benchmark leaves nothing behind (no SB3-* log folders, no database server).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from qraptor.train import load_train_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("train-bench")
    temp = out / "tmp"  # TMPDIR of the run: SB3's default logger would write SB3-* here
    temp.mkdir()
    command = [
        sys.executable, str(ROOT / "benchmarks" / "train.py"), "--quick",
        "--workdir", str(out / "work"), "--json", str(out / "train.json"),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "SB3_LOGDIR"} | {"TMPDIR": str(temp)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads((out / "train.json").read_text())
    return {"figures": figures, "out": out, "temp": temp, "stdout": done.stdout}


def test_train_benchmark_smoke_runs_and_prints_its_table(run: dict) -> None:
    for heading in ("1. Learning speed", "2. Queued path", "3. Learning per wall-clock second"):
        assert heading in run["stdout"]
    assert "x SB3" in run["stdout"] and "target" in run["stdout"]


def paired_ratio(runs: list[float], baselines: list[float]) -> float:
    return statistics.median(r / b for r, b in zip(runs, baselines, strict=True))


def test_train_benchmark_smoke_speed_compares_the_default_session_with_sb3(run: dict) -> None:
    speed = run["figures"]["speed"]
    sb3, default, sb3_settings = speed["rows"]
    window = speed["bars"]["window"]
    assert sb3["settings"] == {
        "n_envs": 1, "n_steps": 2048, "batch_size": 64, "n_epochs": 10, "obs_shape": [window, 2],
    }  # fmt: skip
    conf = load_train_config()
    assert default["settings"]["n_envs"] == conf.session.n_envs
    assert default["settings"]["n_steps"] == conf.algo.n_steps
    assert default["settings"]["batch_size"] == conf.algo.batch_size
    assert default["settings"]["n_epochs"] == conf.algo.n_epochs
    assert {k: sb3_settings["settings"][k] for k in ("n_envs", "n_steps", "n_epochs")} == {
        "n_envs": 1, "n_steps": 2048, "n_epochs": 10,
    }  # fmt: skip
    sb3_speeds = [r["timesteps_per_s"] for r in sb3["runs"]]
    for row in speed["rows"]:
        speeds = [r["timesteps_per_s"] for r in row["runs"]]
        assert row["timesteps_per_s"] == pytest.approx(statistics.median(speeds))
        assert row["x_sb3"] == pytest.approx(paired_ratio(speeds, sb3_speeds))
        for r in row["runs"]:
            assert r["timesteps_per_s"] == pytest.approx(r["timesteps"] / r["learn_seconds"])
            assert 0 < r["rollout_seconds"] + r["update_seconds"] <= r["learn_seconds"] * 1.001
    assert default["target"] == ">= 5x"
    assert default["met"] == (default["x_sb3"] >= 5.0)
    assert sb3["met"] is None and sb3_settings["met"] is None


def test_train_benchmark_smoke_speed_says_what_evaluation_adds(run: dict) -> None:
    default = run["figures"]["speed"]["rows"][1]
    for r in default["runs"]:
        assert r["eval_seconds"] > 0
        parts = r["learn_seconds"] + r["eval_seconds"] + r["other_seconds"]
        assert parts == pytest.approx(r["wall_seconds"])
        assert r["session_timesteps_per_s"] < r["timesteps_per_s"]
    assert "evaluation" in run["stdout"]


def test_train_benchmark_smoke_queued_and_in_process_train_the_same_session(run: dict) -> None:
    queue = run["figures"]["queue"]
    direct, queued = queue["direct"]["runs"], queue["queued"]["runs"]
    assert len(direct) == len(queued) >= 1
    for d, q in zip(direct, queued, strict=True):
        assert q["timesteps"] == d["timesteps"] == queue["timesteps"]
    walls = ([q["wall_seconds"] for q in queued], [d["wall_seconds"] for d in direct])
    assert queue["overhead"] == pytest.approx(paired_ratio(*walls) - 1.0)
    assert queue["target"] == "< 5%"
    assert queue["met"] == (queue["overhead"] < 0.05)
    assert 0 < queue["queue_work_seconds"] < queue["queued"]["wall_seconds"]
    for q in queued:
        assert q["files"] >= 1 + 2 * 2  # model + trade log and equity curve per eval split
        assert 0 < q["timings"]["train_seconds"] < q["wall_seconds"]
        assert q["submit_seconds"] + q["worker_seconds"] == pytest.approx(q["wall_seconds"])


def test_train_benchmark_smoke_learning_judges_each_configuration_against_the_oracle(
    run: dict,
) -> None:
    learning = run["figures"]["learning"]
    sb3, sb3_wall, default, preset = learning["rows"]
    conf = load_train_config()
    assert learning["costs"] == {  # the default costs, never cut for the check
        "fee_rate": conf.env.costs.fee_rate, "slippage_bps": conf.env.costs.slippage_bps,
    }  # fmt: skip
    assert sb3["overrides"][-4:] == [
        "session.n_envs=1", "algo.n_steps=2048", "algo.batch_size=64", "algo.n_epochs=10",
    ]  # fmt: skip
    assert "experiment=learnability" in preset["overrides"]
    assert not any(o.startswith(("algo.", "env.", "experiment=")) for o in default["overrides"])
    assert sb3["timesteps"] == default["timesteps"] == preset["timesteps"]
    expected = max(2048, -(-default["learn_seconds"] * sb3["timesteps_per_s"] // 2048) * 2048)
    assert sb3_wall["runs"][0]["timesteps"] >= expected  # SB3 given the default's wall clock
    for row in learning["rows"]:
        assert len(row["runs"]) == len(learning["seeds"])
        for r in row["runs"]:
            assert r["fraction_of_oracle"] == pytest.approx(r["sharpe"] / r["oracle_sharpe"])
        fractions = [r["fraction_of_oracle"] for r in row["runs"]]
        assert row["fraction_of_oracle"] == pytest.approx(statistics.median(fractions))
        speed = row["timesteps_per_s"] / sb3["timesteps_per_s"]
        assert row["x_sb3_speed"] == pytest.approx(speed)
    # One span per window: the oracle's figure is the same for every seed of a configuration
    # and for every configuration with the default window (the preset sees fewer bars).
    assert len({r["oracle_sharpe"] for row in (sb3, sb3_wall, default) for r in row["runs"]}) == 1


def test_train_benchmark_smoke_leaves_no_logs_and_no_server(run: dict) -> None:
    assert not list(run["temp"].glob("SB3-*"))  # SB3 got a silent logger
    work = str(run["out"] / "work")
    assert not list(Path(work).glob("train-bench-*"))  # scratch folders removed
    servers = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "secantusd" in cmdline and work in cmdline:
            servers.append(proc.pid)
    assert not servers, f"the benchmark left its database server running: {servers}"
