"""The env as libraries see it: gymnasium's and SB3's checkers, gymnasium.make, SB3's
make_vec_env, and a tiny PPO run on the batched env."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.env_util import make_vec_env

from qraptor.env import ENV_ID, BatchedTradingEnv, TradingEnv, make_env

ACTIONS = ["discrete", "long_only", "levels", "continuous"]
SMALL = ("window=8", "episode.mode=random_window", "episode.length=64")


@pytest.mark.parametrize("action_type", ACTIONS)
def test_gymnasium_checker_accepts_every_action_type(
    make_random_market, env_config, action_type
) -> None:
    cfg = env_config(*SMALL, f"action.type={action_type}")
    env = gym.make(ENV_ID, market=make_random_market(1), cfg=cfg)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped)
    # The only warnings allowed: unbounded observation box (z-scores have no hard bound).
    problems = [str(w.message) for w in caught if "infinity" not in str(w.message)]
    assert problems == []


@pytest.mark.parametrize("action_type", ACTIONS)
def test_sb3_checker_accepts_every_action_type(make_random_market, env_config, action_type) -> None:
    env = TradingEnv(make_random_market(1), env_config(*SMALL, f"action.type={action_type}"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(env, warn=True)
    # SB3 advises flattening 2-D observations; its MlpPolicy does that itself.
    assert [str(w.message) for w in caught if "unconventional shape" not in str(w.message)] == []


def test_gymnasium_make_from_a_dataset_folder(dataset_dir) -> None:
    overrides = ["window=4", "episode.mode=full"]
    env = gym.make(ENV_ID, dataset_dir=dataset_dir, split="test", fold=2, overrides=overrides)
    obs, info = env.reset(seed=0)
    assert obs.shape == (4, 2 + len(env.unwrapped.cfg.state))
    assert set(info) == {"timestamp", "cash", "equity", "units"}
    _, reward, _, _, info = env.step(env.action_space.sample())
    assert isinstance(reward, float) and "equity" in info
    direct = make_env(dataset_dir, "val", overrides=["episode.mode=full"])
    assert direct.reset()[1]["timestamp"] == int(direct.market.timestamps[direct.cfg.window - 1])
    with pytest.raises(ValueError, match=r"market=\.\.\. or dataset_dir"):
        gym.make(ENV_ID)


def test_step_before_reset_is_refused(make_random_market, env_config) -> None:
    # Registered without gymnasium's OrderEnforcing wrapper: the env enforces it itself.
    env = gym.make(ENV_ID, market=make_random_market(1), cfg=env_config(*SMALL))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    env.step(0)


def test_sb3_make_vec_env_and_ansi_render(make_random_market, env_config) -> None:
    cfg = env_config(*SMALL)
    kwargs = {"market": make_random_market(2), "cfg": cfg}
    vec = make_vec_env(ENV_ID, n_envs=2, seed=0, env_kwargs=kwargs)
    obs = vec.reset()
    assert obs.shape == (2, *vec.observation_space.shape)
    _, rewards, _, infos = vec.step(np.array([0, 2]))
    assert rewards.shape == (2,) and "equity" in infos[0]
    text = gym.make(ENV_ID, market=make_random_market(2), cfg=cfg, render_mode="ansi")
    text.reset(seed=0)
    assert "equity" in text.render()


def test_ppo_runs_on_the_batched_env_smoke(make_random_market, env_config) -> None:
    """A smoke test: SB3's PPO trains 256 steps on the batched env and predicts one action
    per env (learning itself is tests/train/test_learnability.py's)."""
    torch = pytest.importorskip("torch")
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    env = BatchedTradingEnv(make_random_market(3), env_config(*SMALL), num_envs=4, seed=0)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(256)
    assert model.num_timesteps == 256
    action, _ = model.predict(env.reset(), deterministic=True)
    assert action.shape == (4,)
