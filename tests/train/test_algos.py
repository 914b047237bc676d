"""A fast dev run of every algorithm through `train_session`, and models built as configured."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from torch import nn

from qraptor.train import load_train_config, train_session
from qraptor.train.algo_config import ACTIVATIONS
from qraptor.train.algos import ACTIVATION_CLASSES, load_model, model_kwargs

ALGOS = ("a2c", "dqn", "ppo", "sac", "td3")  # tests/train/conftest.py ALGO_FAST has each


def test_every_activation_name_maps_to_torch() -> None:
    assert set(ACTIVATION_CLASSES) == set(ACTIVATIONS)


@pytest.mark.parametrize("algo", ALGOS)
def test_fast_dev_run(algo: str, fast_overrides, tmp_path: Path) -> None:
    cfg = load_train_config(fast_overrides(algo))
    result = train_session(cfg, tmp_path)

    assert not result.stopped_early
    assert result.timesteps >= cfg.session.total_timesteps
    assert result.model_path == tmp_path / "model.zip" and result.model_path.is_file()
    assert [p.name for p in result.checkpoints][:2] == [
        "model_000000000128.zip",
        "model_000000000256.zip",
    ]
    for split in ("val", "test"):
        assert set(result.baselines[split]) == {
            "buy_and_hold",
            "flat",
            "random",
            "random_uniform",
            "ma_crossover",
        }
        assert math.isfinite(result.metrics[split]["sharpe"])
        curve = pd.read_csv(result.equity[split])
        assert curve["equity"].iloc[0] == cfg.env.initial_cash
        pd.read_csv(result.trade_logs[split])  # written, parseable (may be empty)
    assert result.objective == result.metrics["val"]["sharpe"]
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "config.yaml").is_file()
    assert list((tmp_path / "logs").glob("from_*/progress.csv"))


def test_policy_kwargs_shape_the_network(fast_overrides, tmp_path: Path) -> None:
    overrides = fast_overrides(
        "ppo", "algo.policy_kwargs.net_arch=[24,12]", "algo.policy_kwargs.activation_fn=relu"
    )
    result = train_session(load_train_config(overrides), tmp_path)
    model = load_model("ppo", result.model_path, None, device="cpu")
    policy_net = model.policy.mlp_extractor.policy_net
    widths = [m.out_features for m in policy_net if isinstance(m, nn.Linear)]
    assert widths == [24, 12]
    assert any(isinstance(m, nn.ReLU) for m in policy_net)


def test_td3_gets_gaussian_exploration_noise_and_sac_a_fixed_entropy(fast_overrides) -> None:
    from stable_baselines3.common.noise import NormalActionNoise

    class Box1:  # only action_space.shape is read
        class action_space:
            shape = (1,)

    td3 = load_train_config(fast_overrides("td3", "algo.action_noise_sigma=0.3"))
    noise = model_kwargs(td3.algo, Box1)["action_noise"]  # type: ignore[arg-type]
    assert isinstance(noise, NormalActionNoise) and noise._sigma[0] == pytest.approx(0.3)
    sac = load_train_config(fast_overrides("sac", "algo.ent_coef=0.05"))
    assert model_kwargs(sac.algo, Box1)["ent_coef"] == pytest.approx(0.05)  # type: ignore[arg-type]
    assert load_train_config(fast_overrides("sac")).algo.ent_coef == "auto"
