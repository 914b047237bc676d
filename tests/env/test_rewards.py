"""Rewards agree with the PnL for every reward type; trajectories are seeded and repeatable.

The info of each step is enough to rebuild the account: the test replays the trade log
from infos alone and finds the same cash, equity and rewards.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qraptor.env import TradingEnv

REWARDS = ["log_return", "differential_sharpe", "drawdown_penalty"]
ACTIONS = ["discrete", "long_only", "levels", "continuous"]
CONFIG = (
    "window=8",
    "episode.mode=random_window",
    "episode.length=250",
    "costs.fee_rate=0.001",
    "costs.fixed_fee=2.0",
    "costs.slippage_bps=3",
    "costs.slippage_range_fraction=0.1",
    "limits.max_leverage=2.0",
    "stop.ruin_fraction=0.0",
    "stop.max_drawdown=null",
    "reward.scale=10.0",
    "reward.sharpe_eta=0.05",
    "reward.drawdown_penalty=3.0",
)


def episode(env: TradingEnv, seed: int) -> tuple[dict, list]:
    """One episode with seeded random actions: (reset info, [(obs, reward, info)...])."""
    env.action_space.seed(seed)
    _, first = env.reset(seed=seed)
    steps = []
    while True:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        steps.append((obs, reward, info))
        if terminated or truncated:
            return first, steps


@pytest.mark.parametrize("action_type", ACTIONS)
@pytest.mark.parametrize("reward_type", REWARDS)
def test_rewards_and_pnl_agree(make_random_market, env_config, reward_type, action_type) -> None:
    cfg = env_config(*CONFIG, f"reward.type={reward_type}", f"action.type={action_type}")
    market = make_random_market(7, n_bars=400)
    first, steps = episode(TradingEnv(market, cfg), seed=3)
    infos = [info for _, _, info in steps]
    rewards = np.array([reward for _, reward, _ in steps]) / 10.0  # reward.scale
    equity = np.array([first["equity"], *[i["equity"] for i in infos]])
    assert len(steps) == 250
    assert sum(i["trade"] != 0 for i in infos) > 10  # the episode really trades
    # The per-step equity changes add up to the PnL after costs.
    changes = [i["equity_change"] for i in infos]
    assert math.fsum(changes) == pytest.approx(equity[-1] - 100_000.0, abs=1e-6)
    assert np.array_equal(np.diff(equity), np.array(changes))

    log_returns = np.log(equity[1:] / equity[:-1])
    drawdown = 1 - equity / np.maximum.accumulate(equity)
    if reward_type == "log_return":
        assert rewards.sum() == pytest.approx(math.log(equity[-1] / equity[0]), rel=1e-9)
        np.testing.assert_allclose(rewards, log_returns, rtol=1e-12)
    elif reward_type == "drawdown_penalty":
        penalty = 3.0 * np.maximum(np.diff(drawdown), 0.0)
        assert penalty.sum() > 0
        np.testing.assert_allclose(rewards, log_returns - penalty, rtol=1e-9, atol=1e-15)
    else:
        assert rewards.sum() != 0.0 and np.isfinite(rewards).all()


@pytest.mark.parametrize("execution", ["open", "vwap", "close"])
def test_trade_log_rebuilds_the_account(make_random_market, env_config, execution) -> None:
    cfg = env_config(*CONFIG, "action.type=levels", f"execution.price={execution}")
    market = make_random_market(11, n_bars=400)
    first, steps = episode(TradingEnv(market, cfg), seed=5)
    cash, units = first["cash"], first["units"]
    bar_of = {int(ts): k for k, ts in enumerate(market.timestamps)}
    for _, _, info in steps:
        bar = bar_of[info["timestamp"]]
        assert info["fill_price"] == getattr(market, execution)[bar]
        slip = 3e-4 + 0.1 * (market.high[bar] - market.low[bar]) / info["fill_price"]
        fee = info["costs"] - abs(info["trade"]) * info["fill_price"] * slip
        if info["trade"] == 0:
            assert info["costs"] == 0 and info["exec_price"] == info["fill_price"]
        else:
            assert fee == pytest.approx(0.001 * abs(info["trade"]) * info["exec_price"] + 2.0)
        cash -= info["trade"] * info["exec_price"] + (fee if info["trade"] else 0.0)
        units += info["trade"]
        assert cash == pytest.approx(info["cash"], rel=1e-9, abs=1e-6)
        assert units == pytest.approx(info["units"], rel=1e-12, abs=1e-9)
        cash, units = info["cash"], info["units"]  # no drift of rounding between steps
        assert info["exposure"] == units * market.close[bar]
        assert info["equity"] == cash + units * market.close[bar]


@pytest.mark.parametrize("action_type", ACTIONS)
def test_same_seed_same_trajectory(make_random_market, env_config, action_type) -> None:
    cfg = env_config(*CONFIG, f"action.type={action_type}", "reward.type=differential_sharpe")
    market = make_random_market(3, n_bars=400)
    env_a, env_b = TradingEnv(market, cfg), TradingEnv(market, cfg)
    for seed in (1, 2):
        first_a, steps_a = episode(env_a, seed)
        first_b, steps_b = episode(env_b, seed)
        assert first_a == first_b
        assert len(steps_a) == len(steps_b)
        for (obs_a, reward_a, info_a), (obs_b, reward_b, info_b) in zip(steps_a, steps_b):  # noqa: B905
            assert np.array_equal(obs_a, obs_b) and reward_a == reward_b and info_a == info_b
    # A new seed draws another window; seeds are not ignored.
    starts = {episode(env_a, seed)[0]["timestamp"] for seed in range(6)}
    assert len(starts) > 1


def test_reset_without_seed_continues_the_stream(make_random_market, env_config) -> None:
    cfg = env_config(*CONFIG)
    market = make_random_market(3, n_bars=400)
    env_a, env_b = TradingEnv(market, cfg), TradingEnv(market, cfg)
    env_a.reset(seed=9)
    env_b.reset(seed=9)
    starts_a = [env_a.reset()[1]["timestamp"] for _ in range(5)]
    starts_b = [env_b.reset()[1]["timestamp"] for _ in range(5)]
    assert starts_a == starts_b and len(set(starts_a)) > 1
