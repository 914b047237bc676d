"""A portfolio training session (issue 16), end to end in process on the shipped S&P 500
sample: `experiment=portfolio_quick` composes, trains PPO on Portfolio-v0, validates on
val, and evaluates val and test against the portfolio baselines through the same
accounting. What is checked comes from the run folder's files, replayed independently:
the agent's equity is the saved model's own rollout, 1/N's is the 1/N rule's, weights sum
to 1 on every bar and end in cash (liquidated); impossible settings are refused before
training, naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qraptor.core.errors import ConfigError, DataError
from qraptor.env.portfolio.load import load_panel
from qraptor.evaluation.baseline_names import PORTFOLIO_BASELINES
from qraptor.evaluation.metric_names import METRIC_NAMES
from qraptor.evaluation.portfolio import equal_weight, model_rollout, rollout
from qraptor.train.algos import load_model
from qraptor.train.config import load_train_config
from qraptor.train.trainer import train_session

FAST = (
    "experiment=portfolio_quick",
    "session.total_timesteps=512",
    "session.n_envs=4",
    "session.checkpoint_every=256",
    "session.validation.every_timesteps=256",
    "algo.n_steps=64",
    "algo.batch_size=64",
    "algo.n_epochs=2",
    "env.window=8",
    "env.episode.length=64",
)


@pytest.fixture(scope="module")
def run(panel_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    cfg = load_train_config([*FAST, f"session.dataset={panel_dataset}"])
    out = tmp_path_factory.mktemp("run")
    return cfg, train_session(cfg, out), out


def test_the_session_reports_the_agent_and_every_portfolio_baseline(run) -> None:
    cfg, result, out = run
    assert cfg.is_portfolio and result.timesteps == 512
    summary = json.loads((out / "metrics.json").read_text())
    assert set(summary["splits"]) == {"val", "test"}
    for split in ("val", "test"):
        written = json.loads((out / "eval" / split / "metrics.json").read_text())
        assert set(written["agent"]) == set(METRIC_NAMES)
        assert set(written["baselines"]) == set(PORTFOLIO_BASELINES)
        assert written["verdict"]["benchmark"] == "equal_weight"
        assert {v["baseline"] for v in written["versus"]} == {"equal_weight", "buy_and_hold"}
        assert set(written["diagnostics"]) == {"agent", *PORTFOLIO_BASELINES}
    assert np.isfinite(result.objective)
    assert len(pd.read_csv(out / "validation.csv")) == 2


def test_weights_sum_to_one_every_bar_and_the_span_ends_in_cash(run) -> None:
    _, _, out = run
    for split in ("val", "test"):
        weights = pd.read_csv(out / "eval" / split / "weights.csv")
        values = weights.drop(columns="timestamp").to_numpy()
        np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-12)
        assert values[-1, 0] == pytest.approx(1.0)  # liquidated: all cash
        assert values.min() >= -1e-12  # long-only by default
        equity = pd.read_csv(out / "eval" / split / "equity.csv")
        assert equity["equity"].iloc[0] == 100_000.0
        assert len(equity) == len(weights)


def test_the_files_are_the_saved_model_and_the_baselines_replayed(run, panel_dataset) -> None:
    cfg, result, out = run
    model = load_model("ppo", result.model_path, None, device="cpu")
    panel = load_panel(panel_dataset, "test")
    replay = model_rollout(panel, cfg.env, model, deterministic=True, liquidate=True)
    written = pd.read_csv(out / "eval" / "test" / "equity.csv")
    np.testing.assert_allclose(written["equity"], replay.curve["equity"], rtol=1e-12)
    one_over_n = rollout(panel, cfg.env, equal_weight(panel), liquidate=True)
    baselines = pd.read_csv(out / "eval" / "test" / "baselines_equity.csv")
    np.testing.assert_allclose(baselines["equal_weight"], one_over_n.curve["equity"], rtol=1e-12)
    assert (baselines["momentum_top_k"] != baselines["equal_weight"]).any()


def test_impossible_portfolio_settings_are_refused_naming_the_key(
    panel_dataset: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"algo\.name"):
        load_train_config(["experiment=portfolio_quick", "algo=dqn"])
    with pytest.raises(ConfigError, match=r"session\.eval\.baselines"):
        load_train_config([*FAST, "session.eval.baselines=[ma_crossover]"])
    with pytest.raises(ConfigError, match=r"session\.eval\.baselines"):
        load_train_config(["session.eval.baselines=[equal_weight]"])  # one instrument
    with pytest.raises(ConfigError, match=r"against equal_weight"):
        load_train_config([*FAST, "session.eval.baselines=[buy_and_hold]"])
    with pytest.raises(ConfigError, match=r"env\.episode\.length"):
        cfg = load_train_config(
            [*FAST, "env.episode.length=6000", f"session.dataset={panel_dataset}"]
        )
        train_session(cfg, tmp_path / "long")
    with pytest.raises(DataError, match="single-instrument dataset"):
        cfg = load_train_config([*FAST, f"session.dataset={tiny_dataset}"])
        train_session(cfg, tmp_path / "single")
