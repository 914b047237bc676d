"""BatchedTradingEnv: the same accounting as N single envs, and SB3's VecEnv contract."""

from __future__ import annotations

import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

from qraptor.env import ENV_ID, BatchedTradingEnv, TradingEnv

N_ENVS = 4
CONFIG = (
    "window=6",
    "episode.mode=random_window",
    "episode.length=40",
    "costs.fee_rate=0.0005",
    "costs.fixed_fee=1.0",
    "costs.slippage_bps=2",
    "costs.slippage_range_fraction=0.05",
    "limits.max_leverage=3.0",
    "stop.max_drawdown=0.08",  # stops some episodes early: both end paths are exercised
)
STEP_KEYS = ("fill_price", "exec_price", "units", "exposure", "trade", "costs", "cash", "equity")


def random_actions(env, n_steps: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    space = env.action_space
    if hasattr(space, "n"):
        return [rng.integers(0, space.n, N_ENVS) for _ in range(n_steps)]
    return [rng.uniform(-1.2, 1.2, (N_ENVS, 1)).astype(np.float32) for _ in range(n_steps)]


@pytest.mark.parametrize("action_type", ["discrete", "long_only", "levels", "continuous"])
@pytest.mark.parametrize("reward_type", ["log_return", "differential_sharpe", "drawdown_penalty"])
def test_batched_equals_single_envs(
    make_random_market, env_config, action_type, reward_type
) -> None:
    cfg = env_config(*CONFIG, f"action.type={action_type}", f"reward.type={reward_type}")
    market = make_random_market(5, n_bars=300)
    batched = BatchedTradingEnv(market, cfg, N_ENVS, seed=100)
    singles = [TradingEnv(market, cfg) for _ in range(N_ENVS)]
    obs = batched.reset()
    for i, env in enumerate(singles):
        assert np.array_equal(obs[i], env.reset(seed=100 + i)[0])
    ends = {"terminated": 0, "truncated": 0}
    for actions in random_actions(batched, 400, seed=1):
        obs, rewards, dones, infos = batched.step(actions)
        for i, env in enumerate(singles):
            single_obs, reward, terminated, truncated, info = env.step(actions[i])
            assert rewards[i] == reward
            assert dones[i] == (terminated or truncated)
            for key in STEP_KEYS:
                assert getattr(batched, key)[i] == info[key], key
            assert batched.equity_change[i] == info["equity_change"]
            assert batched.timestamp[i] == info["timestamp"]
            if terminated or truncated:
                ends["terminated" if terminated else "truncated"] += 1
                assert np.array_equal(infos[i]["terminal_observation"], single_obs)
                assert infos[i]["TimeLimit.truncated"] == (truncated and not terminated)
                assert {k: infos[i][k] for k in info} == info
                single_obs, reset_info = env.reset()
                assert batched.reset_infos[i] == reset_info
            else:
                assert infos[i] == {}
            assert np.array_equal(obs[i], single_obs)
    assert ends["terminated"] > 0 and ends["truncated"] > 0


def test_matches_sb3_dummy_vec_env(make_random_market, env_config) -> None:
    """SB3's own vectorisation of the single env (make_vec_env) is the reference contract."""
    cfg = env_config(*CONFIG)
    market = make_random_market(9, n_bars=300)
    reference = make_vec_env(ENV_ID, N_ENVS, seed=42, env_kwargs={"market": market, "cfg": cfg})
    batched = BatchedTradingEnv(market, cfg, N_ENVS, seed=42)
    obs_ref, obs = reference.reset(), batched.reset()
    assert obs.shape == (N_ENVS, *batched.observation_space.shape) and obs.dtype == np.float32
    assert np.array_equal(obs, obs_ref)
    n_done = 0
    for actions in random_actions(batched, 200, seed=2):
        obs_ref, rewards_ref, dones_ref, infos_ref = reference.step(actions)
        obs, rewards, dones, infos = batched.step(actions)
        assert obs.shape == obs_ref.shape and rewards.shape == (N_ENVS,) == dones.shape
        assert dones.dtype == bool and len(infos) == N_ENVS
        assert np.array_equal(obs, obs_ref) and np.array_equal(dones, dones_ref)
        np.testing.assert_array_equal(rewards.astype(np.float32), rewards_ref)
        for i in np.flatnonzero(dones):
            n_done += 1
            end, end_ref = infos[i], infos_ref[i]
            assert np.array_equal(end["terminal_observation"], end_ref["terminal_observation"])
            assert end["TimeLimit.truncated"] == end_ref["TimeLimit.truncated"]
    assert n_done > 0


def test_seed_and_reset_semantics(make_random_market, env_config) -> None:
    cfg = env_config(*CONFIG)
    market = make_random_market(9, n_bars=300)
    env = BatchedTradingEnv(market, cfg, N_ENVS)
    assert env.seed(7) == [7, 8, 9, 10]
    first = env.reset()
    env.seed(7)
    assert np.array_equal(env.reset(), first)  # seeds apply at the next reset only
    assert not np.array_equal(env.reset(), first)  # ... and once
    starts = {info["timestamp"] for info in env.reset_infos}
    assert len(starts) > 1  # envs draw their own windows


def test_vec_env_methods(make_random_market, env_config) -> None:
    cfg = env_config(*CONFIG)
    env = BatchedTradingEnv(make_random_market(9, n_bars=300), cfg, N_ENVS, seed=0)
    env.reset()
    env.step(np.array([2, 0, 1, 2]))
    assert env.get_attr("equity") == env.equity.tolist()
    assert env.get_attr("units", indices=[1]) == [env.units[1]]
    assert env.get_attr("cfg", indices=0) == [cfg]
    assert env.has_attr("equity") and not env.has_attr("no_such_attribute")
    assert env.env_is_wrapped(object) == [False] * N_ENVS
    assert env.env_method("get_attr", "render_mode", indices=[0, 1]) == [[None] * 4] * 2
    env.set_attr("note", "shared")
    assert env.get_attr("note") == ["shared"] * N_ENVS
    with pytest.raises(AttributeError):
        env.set_attr("equity", 0.0)
    with pytest.raises(ValueError, match="all envs"):
        env.set_attr("note", "one", indices=[0])
    with pytest.raises(ValueError):
        env.equity[0] = 1.0  # read-only view of the accounting
    with pytest.raises(ValueError, match="invalid action"):
        env.step(np.array([0, 1, 3, 0]))
    with pytest.raises(ValueError, match="invalid action"):
        env.step(np.array([0, 1, -1, 0]))
    _, _, _, infos = env.step(np.array([0, 1, 2, 0]))
    with pytest.raises(TypeError, match="read-only"):
        infos[0]["note"] = 1  # running envs share one empty info
    assert dict(infos[0]) == {}
    env.close()


def test_step_before_reset_is_refused(make_random_market, env_config) -> None:
    env = BatchedTradingEnv(make_random_market(9, n_bars=300), env_config(*CONFIG), N_ENVS)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(N_ENVS, dtype=np.int64))
