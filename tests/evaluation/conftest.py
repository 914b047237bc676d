"""Hand-made markets and configs for the evaluation tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from qraptor.env import EnvConfig, Market, load_env_config

DAY_NS = 86_400_000_000_000
EPOCH_NS = 1_704_067_200_000_000_000  # 2024-01-01T00:00Z

# Zero costs, window 1, full episodes: equity paths can be worked out by hand.
EXACT = (
    "window=1",
    "features=null",
    "state=[position]",
    "action.type=discrete",
    "execution.price=open",
    "costs.fee_rate=0.0",
    "costs.fixed_fee=0.0",
    "costs.slippage_bps=0.0",
    "costs.slippage_range_fraction=0.0",
    "limits.max_leverage=1.0",
    "limits.max_units=null",
    "limits.min_trade=0.0",
    "initial_cash=1000.0",
    "stop.ruin_fraction=0.0",
    "stop.max_drawdown=null",
    "reward.type=log_return",
    "reward.scale=1.0",
    "episode.mode=full",
)


def make_market(close: Sequence[float], open_: Sequence[float] | None = None) -> Market:
    """Daily bars with explicit closes (and opens; default: the previous close)."""
    close_a = np.asarray(close, dtype=np.float64)
    if open_ is None:
        open_a = np.concatenate([[close_a[0]], close_a[:-1]])
    else:
        open_a = np.asarray(open_, dtype=np.float64)
    n = len(close_a)
    return Market(
        timestamps=EPOCH_NS + np.arange(n, dtype=np.int64) * DAY_NS,
        open=open_a,
        high=np.maximum(open_a, close_a),
        low=np.minimum(open_a, close_a),
        close=close_a,
        vwap=(open_a + close_a) / 2,
        features=np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32),
        feature_names=("z_a", "z_b"),
    )


@pytest.fixture(scope="session")
def exact_config():
    """EnvConfig with zero costs, window 1 and full episodes, plus `overrides`."""

    def build(*overrides: str) -> EnvConfig:
        return load_env_config([*EXACT, *overrides])

    return build


@pytest.fixture(scope="session")
def market():
    return make_market


@pytest.fixture(scope="session")
def random_walk():
    def build(seed: int, n: int = 400, vol: float = 0.01) -> Market:
        rng = np.random.default_rng(seed)
        return make_market(100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n))))

    return build
