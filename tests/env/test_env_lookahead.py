"""No look-ahead, as a property: perturb every price and feature after bar t; every
observation up to bar t and every fill up to bar t stay bit-for-bit the same.

The decision at bar t fills in bar t+1, so the fills "up to t" are those of steps taken at
bars before t; the observation at bar t is the one returned when the agent reaches t.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qraptor.env import BatchedTradingEnv, Market, TradingEnv

N_BARS = 60
WINDOW = 5
SETTINGS = settings(deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow])
CONFIG = (
    f"window={WINDOW}",
    "episode.mode=full",
    "costs.slippage_range_fraction=0.05",
    "costs.fixed_fee=0.5",
    "stop.ruin_fraction=0.0",
    "stop.max_drawdown=null",
)


def perturbed_after(market: Market, t: int, seed: int) -> Market:
    """The same market with every bar after t rescaled and its features replaced."""
    rng = np.random.default_rng(seed)
    later = slice(t + 1, None)
    factors = rng.uniform(0.5, 2.0, N_BARS - t - 1)
    prices = {}
    for name in ("open", "high", "low", "close", "vwap"):
        values = getattr(market, name).copy()
        values[later] *= factors * rng.uniform(0.99, 1.01, len(factors))
        prices[name] = values
    features = market.features.copy()
    features[later] = rng.normal(size=features[later].shape)
    return dataclasses.replace(market, features=features, **prices)


def single_trace(market: Market, cfg, actions: np.ndarray) -> tuple[dict, dict]:
    """Observation by decision bar, and step info by fill bar, over one full episode."""
    env = TradingEnv(market, cfg)
    obs, _ = env.reset(seed=0)
    observations, fills = {env.bar: obs}, {}
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        observations[env.bar] = obs
        fills[env.bar] = (reward, info)
        if terminated or truncated:
            break
    return observations, fills


@SETTINGS
@given(
    data=st.data(),
    seed=st.integers(0, 2**16),
    action_type=st.sampled_from(["discrete", "levels", "continuous"]),
    execution=st.sampled_from(["open", "vwap", "close"]),
)
def test_single_env_sees_nothing_after_t(
    make_random_market, env_config, data, seed, action_type, execution
) -> None:
    t = data.draw(st.integers(WINDOW - 1, N_BARS - 2), label="t")
    cfg = env_config(*CONFIG, f"action.type={action_type}", f"execution.price={execution}")
    market = make_random_market(seed, n_bars=N_BARS, n_features=2)
    rng = np.random.default_rng(seed)
    if action_type == "continuous":
        actions = rng.uniform(-1, 1, (N_BARS, 1)).astype(np.float32)
    else:
        actions = rng.integers(0, 3 if action_type == "discrete" else 5, N_BARS)
    obs_a, fills_a = single_trace(market, cfg, actions)
    obs_b, fills_b = single_trace(perturbed_after(market, t, seed + 1), cfg, actions)
    for bar in range(WINDOW - 1, t + 1):
        assert np.array_equal(obs_a[bar], obs_b[bar]), f"observation at bar {bar} (t={t})"
        if bar in fills_a:
            assert fills_a[bar] == fills_b[bar], f"fill in bar {bar} (t={t})"
    assert any(not np.array_equal(obs_a[b], obs_b[b]) for b in obs_a if b > t)  # perturbed


@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_batched_env_sees_nothing_after_t(make_random_market, env_config, data, seed) -> None:
    t = data.draw(st.integers(WINDOW - 1, N_BARS - 2), label="t")
    cfg = env_config(*CONFIG, "action.type=discrete")
    market = make_random_market(seed, n_bars=N_BARS, n_features=2)
    actions = np.random.default_rng(seed).integers(0, 3, (N_BARS, 3))

    def trace(m: Market) -> list[tuple]:
        """Per decision bar from WINDOW - 1: observations, then the fill of the step to it."""
        env = BatchedTradingEnv(m, cfg, num_envs=3, seed=0)
        steps = [(env.reset(),)]
        for bar in range(WINDOW - 1, N_BARS - 2):  # stop before the truncating step
            obs, rewards, _, _ = env.step(actions[bar])
            accounts = [env.fill_price, env.exec_price, env.units, env.cash, env.equity]
            steps.append((obs, rewards, *[a.copy() for a in accounts]))
        return steps

    before, after = trace(market), trace(perturbed_after(market, t, seed + 1))
    for k, (step_a, step_b) in enumerate(zip(before, after, strict=True)):
        same = all(np.array_equal(a, b) for a, b in zip(step_a, step_b, strict=True))
        if WINDOW - 1 + k <= t:
            assert same, f"bar {WINDOW - 1 + k} (t={t})"
    if t < N_BARS - 2:  # the last observation is of bar N_BARS - 2: the change shows there
        assert not np.array_equal(before[-1][0], after[-1][0])
