"""The trading environment: a gymnasium env and a batched SB3 VecEnv over one split's bars.

    config.py       EnvConfig, the schema of conf/env (load_env_config)
    market.py       Market: a split's bars and features as numpy arrays (load_market)
    kernel.py       the numba kernel: fills, costs, equity, stops, rewards (one implementation)
                    and the observation plumbing of both envs
    inputs.py       the kernel's arrays (per-bar prices, parameter vector) from Market + config
    spaces.py       action/observation spaces, action levels, episode spans
    trading_env.py  TradingEnv (gymnasium.Env), id "qraptor/Trading-v0"
    vector_env.py   BatchedTradingEnv (stable_baselines3 VecEnv): N accounts per numba call

Importing this package registers "qraptor/Trading-v0" with gymnasium; kwargs are either
``market=..., cfg=...`` or ``dataset_dir=..., split=..., fold=..., overrides=[...]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import gymnasium as gym

from qraptor.env.config import EnvConfig, load_env_config

if TYPE_CHECKING:
    from qraptor.env.market import Market, load_market
    from qraptor.env.trading_env import TradingEnv
    from qraptor.env.vector_env import BatchedTradingEnv

ENV_ID = "qraptor/Trading-v0"

__all__ = [
    "ENV_ID",
    "BatchedTradingEnv",
    "EnvConfig",
    "Market",
    "TradingEnv",
    "load_env_config",
    "load_market",
    "make_batched_env",
    "make_env",
]


def make_env(
    dataset_dir: Path,
    split: str = "train",
    fold: int | None = None,
    overrides: Sequence[str] = (),
) -> TradingEnv:
    """A TradingEnv on `split` (of fold `fold`) of a dataset folder, conf/env + `overrides`."""
    from qraptor.env.market import load_market
    from qraptor.env.trading_env import TradingEnv

    cfg = load_env_config(overrides)
    return TradingEnv(load_market(Path(dataset_dir), split, fold, cfg.features), cfg)


def make_batched_env(
    dataset_dir: Path,
    num_envs: int,
    split: str = "train",
    fold: int | None = None,
    overrides: Sequence[str] = (),
    seed: int | None = None,
) -> BatchedTradingEnv:
    """A BatchedTradingEnv of `num_envs` accounts, configured like `make_env`."""
    from qraptor.env.market import load_market
    from qraptor.env.vector_env import BatchedTradingEnv

    cfg = load_env_config(overrides)
    market = load_market(Path(dataset_dir), split, fold, cfg.features)
    return BatchedTradingEnv(market, cfg, num_envs, seed=seed)


def __getattr__(name: str) -> object:
    # BatchedTradingEnv subclasses an SB3 VecEnv, and importing SB3 imports torch (~1.3 s):
    # load it on first use so that the single env and the config stay light.
    if name == "BatchedTradingEnv":
        from qraptor.env.vector_env import BatchedTradingEnv

        return BatchedTradingEnv
    if name in ("Market", "load_market"):
        from qraptor.env import market

        return getattr(market, name)
    if name == "TradingEnv":
        from qraptor.env.trading_env import TradingEnv

        return TradingEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _registered_entry_point(
    market: Market | None = None,
    cfg: EnvConfig | None = None,
    dataset_dir: str | Path | None = None,
    split: str = "train",
    fold: int | None = None,
    overrides: Sequence[str] = (),
    render_mode: str | None = None,
) -> TradingEnv:
    """What ``gymnasium.make(ENV_ID, ...)`` calls."""
    from qraptor.env.market import load_market
    from qraptor.env.trading_env import TradingEnv

    if cfg is not None and overrides:
        raise ValueError("pass either cfg or overrides, not both")
    cfg = cfg if cfg is not None else load_env_config(overrides)
    if market is None:
        if dataset_dir is None:
            raise ValueError(f"{ENV_ID} needs market=... or dataset_dir=...")
        market = load_market(Path(dataset_dir), split, fold, cfg.features)
    elif dataset_dir is not None:
        raise ValueError("pass either market or dataset_dir, not both")
    return TradingEnv(market, cfg, render_mode=render_mode)


if ENV_ID not in gym.registry:
    # order_enforce=False: TradingEnv refuses a step before reset (or after the end) itself,
    # so gymnasium's OrderEnforcing wrapper would only add two calls to every step.
    # (gymnasium types entry_point as `(**kwargs) -> Env`, which no function with named
    # parameters matches, though make() only ever calls it with keywords)
    gym.register(id=ENV_ID, entry_point=_registered_entry_point, order_enforce=False)  # type: ignore[arg-type]
