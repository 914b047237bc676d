"""Shared builders for the environment tests: small hand-made markets and configs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from qraptor.env import EnvConfig, Market, load_env_config

HOUR_NS = 3_600_000_000_000
EPOCH_NS = 1_600_000_000_000_000_000

# Overrides that make the accounting tests independent of conf/env's cost values.
EXACT = (
    "window=1",
    "features=null",
    "state=[position,unrealised_pnl,time_in_position]",
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


def bars_market(
    close: Sequence[float],
    open_: Sequence[float] | None = None,
    high: Sequence[float] | None = None,
    low: Sequence[float] | None = None,
    vwap: Sequence[float] | None = None,
    features: np.ndarray | None = None,
) -> Market:
    """A market from explicit prices (open defaults to close; high/low to their max/min)."""
    close_a = np.asarray(close, dtype=np.float64)
    open_a = close_a if open_ is None else np.asarray(open_, dtype=np.float64)
    high_a = np.maximum(open_a, close_a) if high is None else np.asarray(high, dtype=np.float64)
    low_a = np.minimum(open_a, close_a) if low is None else np.asarray(low, dtype=np.float64)
    vwap_a = (open_a + close_a) / 2 if vwap is None else np.asarray(vwap, dtype=np.float64)
    n = len(close_a)
    feats = np.zeros((n, 1), dtype=np.float32) if features is None else features
    return Market(
        timestamps=EPOCH_NS + np.arange(n, dtype=np.int64) * HOUR_NS,
        open=open_a,
        high=high_a,
        low=low_a,
        close=close_a,
        vwap=vwap_a,
        features=np.asarray(feats, dtype=np.float32),
        feature_names=tuple(f"z_f{k}" for k in range(feats.shape[1])),
    )


def random_market(seed: int, n_bars: int = 300, n_features: int = 3, vol: float = 0.01) -> Market:
    """Geometric random-walk bars with consistent OHLC/vwap and random features."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n_bars)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0.0, vol / 4, n_bars))
    spread = np.abs(rng.normal(0.0, vol, n_bars)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    vwap = low + (high - low) * rng.uniform(0.2, 0.8, n_bars)
    features = rng.normal(size=(n_bars, n_features)).astype(np.float32)
    return bars_market(close, open_, high, low, vwap, features)


@pytest.fixture(scope="session")
def env_config() -> Callable[..., EnvConfig]:
    """EnvConfig from conf/env/default.yaml with dotlist overrides."""
    return lambda *overrides: load_env_config(list(overrides))


@pytest.fixture(scope="session")
def exact_config() -> Callable[..., EnvConfig]:
    """An EnvConfig with zero costs, window 1, full episodes, plus `overrides`."""
    return lambda *overrides: load_env_config([*EXACT, *overrides])


@pytest.fixture(scope="session")
def make_bars() -> Callable[..., Market]:
    return bars_market


@pytest.fixture(scope="session")
def make_random_market() -> Callable[..., Market]:
    return random_market


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory):
    """A dataset folder written by the split stage (conf/split defaults, 4 folds) from
    800 random-walk bars with two features."""
    import pandas as pd

    from qraptor.data.pipeline_config import load_pipeline_section
    from qraptor.data.split import SplitConfig, make_dataset

    market = random_market(21, n_bars=800, n_features=2)
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(market.timestamps, utc=True),
            **{c: getattr(market, c) for c in ("open", "high", "low", "close", "vwap")},
            "volume": 1.0,
            "trades": 1,
            "momentum": market.features[:, 0].astype(np.float64),
            "carry": market.features[:, 1].astype(np.float64),
        }
    )
    split_cfg = load_pipeline_section("split", SplitConfig)
    out = tmp_path_factory.mktemp("dataset") / "dataset"
    make_dataset(frame, ["momentum", "carry"], split_cfg, out)
    return out
