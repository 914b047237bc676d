"""qraptor/Portfolio-v0 and its VecEnv (issue 16): gymnasium's checker passes; nothing after
bar t changes the observation at t or any fill up to t; B batched accounts equal B single
envs; an instrument that lists late cannot be bought before its first bar and a delisted
one is sold at its last price with the sale's costs; PPO trains on the VecEnv."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qraptor.env.portfolio import ENV_ID
from qraptor.env.portfolio.config import load_portfolio_env_config
from qraptor.env.portfolio.panel import Panel
from qraptor.env.portfolio.portfolio_env import PortfolioEnv
from qraptor.env.portfolio.vector_env import PortfolioVecEnv

BARS, N = 160, 4


def _frames(seed: int = 0, bars: int = BARS, n: int = N) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2020-01-01", periods=bars, freq="D", tz="UTC")
    frames = {}
    for j in range(n):
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, bars)))
        momentum = pd.Series(close).pct_change(5).to_numpy()  # causal: past closes only
        frames[f"S{j}"] = pd.DataFrame(
            {"timestamp": stamps, "close": close, "open": close * 0.999, "mom": momentum}
        )
    return frames


def _cfg(*overrides: str):
    return load_portfolio_env_config(["window=8", "episode.mode=full", *overrides])


def _panel(frames=None) -> Panel:
    return Panel.from_frames(frames or _frames(), features=["mom"])


def _play(env: PortfolioEnv, actions: np.ndarray) -> tuple[list, list]:
    obs, _ = env.reset(seed=0)
    observations, infos = [obs], []
    for a in actions:
        obs, _, _, truncated, info = env.step(a)
        observations.append(obs)
        infos.append(info)
        if truncated:
            break
    return observations, infos


def test_gymnasiums_checker_passes_and_make_finds_it() -> None:
    from gymnasium.utils.env_checker import check_env

    env = gym.make(ENV_ID, panel=_panel(), cfg=_cfg("episode.mode=random_window",
                                                     "episode.length=50"))  # fmt: skip
    check_env(env.unwrapped, skip_render_check=True)


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(20, BARS - 2), seed=st.integers(0, 1000))
def test_nothing_after_bar_t_changes_what_is_seen_or_filled_up_to_t(cut: int, seed: int) -> None:
    frames = _frames()
    rng = np.random.default_rng(seed)
    future = {}
    for symbol, frame in frames.items():
        changed = frame.copy()
        later = changed.index > cut
        changed.loc[later, ["close", "open"]] *= np.exp(rng.normal(0, 0.3, (later.sum(), 1)))
        changed.loc[later, "mom"] = rng.normal(size=later.sum())
        future[symbol] = changed
    actions = np.random.default_rng(1).normal(0, 3, (BARS, N + 1))
    cfg = _cfg("execution.price=open")
    seen, filled = _play(PortfolioEnv(_panel(frames), cfg), actions)
    seen2, filled2 = _play(PortfolioEnv(_panel(future), cfg), actions)
    decided = cut - (cfg.window - 1)  # observations at bars window-1 .. cut
    for a, b in zip(seen[: decided + 1], seen2[: decided + 1], strict=True):
        np.testing.assert_array_equal(a, b)
    # fills land at bars up to cut (decisions at bars < cut): identical accounts
    for a, b in zip(filled[:decided], filled2[:decided], strict=True):
        assert a["equity"] == b["equity"] and a["costs"] == b["costs"]
    assert seen[decided + 1].tobytes() != seen2[decided + 1].tobytes()  # the test can fail


def test_batched_accounts_equal_single_environments() -> None:
    panel, cfg = _panel(), _cfg("costs.fee_rate=0.002", "weights.band=0.02")
    b = 5
    actions = np.random.default_rng(2).normal(0, 3, (BARS, b, N + 1))
    vec = PortfolioVecEnv(panel, cfg, b, seed=0)
    obs = vec.reset()
    singles = [PortfolioEnv(panel, cfg) for _ in range(b)]
    single_obs = [env.reset(seed=0)[0] for env in singles]
    for t in range(BARS - cfg.window):
        np.testing.assert_array_equal(obs, np.stack(single_obs))
        vec.step_async(actions[t])
        obs, rewards, dones, infos = vec.step_wait()
        for k, env in enumerate(singles):
            single_obs[k], reward, _, truncated, info = env.step(actions[t, k])
            assert reward == pytest.approx(rewards[k], abs=0, rel=1e-6)  # float32 vs float64
            assert info["equity"] == infos[k]["equity"] and truncated == dones[k]
            if truncated:
                single_obs[k] = infos[k]["terminal_observation"]
        if dones.any():
            break
    assert dones.all() and t == BARS - cfg.window - 1


def test_a_late_listing_is_not_bought_before_its_first_bar_and_a_delisting_is_sold() -> None:
    frames = _frames()
    frames["S1"] = frames["S1"].iloc[40:].reset_index(drop=True)  # lists at bar 40
    frames["S2"] = frames["S2"].iloc[:100].reset_index(drop=True)  # delisted after bar 99
    panel = _panel(frames)
    assert panel.tradable[:40, 1].sum() == 0 and np.isnan(panel.close[:40, 1]).all()
    assert panel.exit_bar[2] == 100 and np.isnan(panel.features[100:, 2]).all()
    env = PortfolioEnv(panel, _cfg("costs.fee_rate=0.01", "costs.slippage_bps=0"))
    env.reset(seed=0)
    equal = np.zeros(N + 1)
    equal[1:] = 1.0  # equal scores on the instruments, cash low: softmax ~ 1/N
    equal[0] = -10.0
    for _ in range(BARS - 8):
        _, _, _, truncated, info = env.step(equal)
        bar = env.book.bar[0]
        if bar < 40:
            assert info["weights"][2] == 0.0 and info["traded"][1] == 0.0  # S1 (cash is weight 0)
        if bar == 100:
            assert info["weights"][3] == 0.0  # S2 sold at its last price
            assert info["traded"][2] < 0 and info["costs"] > 0
        if bar > 100:
            assert info["weights"][3] == 0.0 and info["traded"][2] == 0.0
        assert abs(info["weights"].sum() - 1) < 1e-12
        if truncated:
            break


def test_ppo_trains_on_the_vector_env() -> None:
    from stable_baselines3 import PPO

    vec = PortfolioVecEnv(_panel(), _cfg("episode.mode=random_window", "episode.length=32"),
                          4, seed=0)  # fmt: skip
    model = PPO("MlpPolicy", vec, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(256)
    assert model.num_timesteps == 256
    obs = vec.reset()
    for _ in range(40):  # the trained policy's actions step the env (episodes reset inside)
        action, _ = model.predict(obs, deterministic=True)
        obs, rewards, _, infos = vec.step(action)
        assert np.isfinite(rewards).all() and all(i["equity"] > 0 for i in infos)
        assert all(abs(i["weights"].sum() - 1) < 1e-12 for i in infos)


def test_a_bad_setting_names_its_key() -> None:
    with pytest.raises(Exception, match=r"env\.weights\.mapping"):
        _cfg("weights.mapping=clip")
    cfg = dataclasses.replace(_cfg(), window=500)
    with pytest.raises(Exception, match=r"env\.window"):
        PortfolioEnv(_panel(), cfg)


def test_the_differential_sharpe_reward_is_moody_and_saffells_on_the_log_returns() -> None:
    """Moody & Saffell (2001): D_t = (B dA - A dB / 2) / (B - A^2)^(3/2) with the moments
    A, B before the step, dA = R - A, dB = R^2 - B, then A += eta dA, B += eta dB; 0 until
    the moments have a variance."""
    panel = _panel()
    actions = np.random.default_rng(3).normal(0, 3, (BARS, N + 1))
    log_env = PortfolioEnv(panel, _cfg())
    dsr_env = PortfolioEnv(panel, _cfg("reward.type=differential_sharpe", "reward.sharpe_eta=0.05"))
    log_env.reset(seed=0)
    dsr_env.reset(seed=0)
    a = b = 0.0
    for action in actions[: BARS - 8]:
        _, r, _, done, _ = log_env.step(action)
        _, d, _, _, _ = dsr_env.step(action)
        variance = b - a * a
        expected = (
            (b * (r - a) - 0.5 * a * (r * r - b)) / variance**1.5 if variance > 1e-20 else 0.0
        )
        assert d == pytest.approx(expected, rel=1e-9, abs=1e-12)
        a, b = a + 0.05 * (r - a), b + 0.05 * (r * r - b)
        if done:
            break
