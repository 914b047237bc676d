"""Smoke test of benchmarks/env.py: `--quick` runs every section (the portfolio one too)
and writes every figure.

Speed itself is not asserted (2 shared cores make timings noisy); what a reader of the
benchmark relies on is: each figure is present and positive, ratios are taken between runs
of the same round (paired), every target carries a verdict that follows from its figure,
and the matched qraptor config really observes what gym-anytrading observes.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BATCH_SIZES = [1, 16, 256, 4096]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("env-bench")
    command = [
        sys.executable, str(ROOT / "benchmarks" / "env.py"), "--quick",
        "--workdir", str(out), "--json", str(out / "env.json"),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    return {"stdout": done.stdout, "json": out / "env.json"}


@pytest.fixture(scope="module")
def figures(run: dict) -> dict:
    return json.loads(run["json"].read_text())


def test_env_benchmark_smoke_runs_and_prints_its_table(run: dict) -> None:
    for heading in ("1. Single env", "2. BatchedTradingEnv", "3. SB3 PPO"):
        assert heading in run["stdout"]
    assert "x gym-anytr." in run["stdout"] and "target" in run["stdout"]


def paired_ratio(runs: list[float], baselines: list[float]) -> float:
    return statistics.median(r / b for r, b in zip(runs, baselines, strict=True))


def test_env_benchmark_smoke_single_env_rows_compare_like_with_like(figures: dict) -> None:
    rows = {(r["env"], r["access"]): r for r in figures["single"]["rows"]}
    envs = ["gym-anytrading", "qraptor default", "qraptor matched"]
    assert set(rows) == {(e, a) for e in envs for a in ("gym.make", "unwrapped")}
    for (env, access), row in rows.items():
        baseline = rows[("gym-anytrading", access)]["runs"]
        assert row["steps_per_s"] == pytest.approx(statistics.median(row["runs"]))
        assert row["steps_per_s"] > 0
        assert row["x_gym_anytrading"] == pytest.approx(paired_ratio(row["runs"], baseline))
        if env.startswith("qraptor"):
            assert row["target"] == ">= 3x"
            assert row["met"] == (row["x_gym_anytrading"] >= 3.0)
    window = figures["single"]["bars"]["window"]
    gym_obs = rows[("gym-anytrading", "gym.make")]["obs_shape"]
    assert gym_obs == [window, 2]
    assert rows[("qraptor matched", "gym.make")]["obs_shape"] == gym_obs
    assert rows[("qraptor default", "gym.make")]["obs_shape"][0] == window


def test_env_benchmark_smoke_batched_rows_cover_every_n_and_judge_n256(figures: dict) -> None:
    rows = figures["batched"]
    assert [(r["config"], r["num_envs"]) for r in rows] == [
        (c, n) for c in ("default", "matched") for n in BATCH_SIZES
    ]
    for row in rows:
        assert row["env_steps_per_s"] == pytest.approx(row["num_envs"] * row["vector_steps_per_s"])
        for access, ratio in row["x_gym_anytrading"].items():
            paired = [run[access] for run in row["gym_anytrading_runs"]]
            assert ratio == pytest.approx(paired_ratio(row["runs"], paired))
        if row["num_envs"] == 256:
            assert row["met"] == {a: r >= 50.0 for a, r in row["x_gym_anytrading"].items()}
        else:
            assert row["met"] is None


def test_env_benchmark_smoke_ppo_share_is_a_judged_fraction_of_learn(figures: dict) -> None:
    ppo = figures["ppo"]
    assert ppo["settings"]["torch_threads"] == 1
    assert ppo["timesteps_done"] >= ppo["settings"]["timesteps"]
    assert 0 < ppo["env_seconds"] < ppo["rollout_seconds"] < ppo["learn_seconds"]
    assert ppo["env_share"] == pytest.approx(ppo["env_seconds"] / ppo["learn_seconds"])
    assert ppo["met"] == (ppo["env_share"] < 0.05)


def test_env_benchmark_smoke_times_the_portfolio_env_against_its_reference(
    run: dict, figures: dict
) -> None:
    assert "4. Portfolio-v0" in run["stdout"]
    p = figures["portfolio"]
    assert p["instruments"] == 20 and p["bars"] == 8313  # skfolio's sample (the [all] extra)
    assert p["baseline"].startswith("plain-numpy reference")
    assert p["single_x_baseline"] == pytest.approx(
        p["single_steps_per_second"] / p["baseline_steps_per_second"]
    )
    assert [row["batch"] for row in p["batched"]] == [16, 256]
    assert all(row["env_steps_per_second"] > 0 for row in p["batched"])
