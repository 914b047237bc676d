"""Baselines on the agent's span with the agent's costs: buy-and-hold, flat, random policy.

Each runs through `backtest.rollout`, i.e. the same environment, fills and costs as the
agent. Buy-and-hold and flat are target exposures (+1 and 0) set once and held: they run
with a continuous action (a target of exactly 1.0 or 0.0 whatever levels the agent's action
type offers), so "+1" means what it means for the agent (`limits.max_leverage` x equity).
The random policy draws uniformly from the agent's own action space, seeded; one run is
one sample, so `random_runs` gives a distribution, not a single number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from qraptor.env.config import ActionConfig, EnvConfig
from qraptor.env.market import Market
from qraptor.env.spaces import action_space
from qraptor.evaluation.backtest import Backtest, Policy, rollout

BASELINES = ("buy_and_hold", "flat", "random")


def target_policy(target: float) -> Policy:
    """Always ask for the same target exposure (held, never rebalanced)."""
    action = np.array([target], dtype=np.float32)
    return lambda obs: action


def _continuous(cfg: EnvConfig) -> EnvConfig:
    return dataclasses.replace(
        cfg, action=ActionConfig(type="continuous", levels=list(cfg.action.levels))
    )


def buy_and_hold(market: Market, cfg: EnvConfig) -> Backtest:
    """Long (target +1) from the first decision to the end, the position left to drift."""
    return rollout(market, _continuous(cfg), target_policy(1.0))


def flat(market: Market, cfg: EnvConfig) -> Backtest:
    """Never trade: the cash curve every other result is measured against."""
    return rollout(market, _continuous(cfg), target_policy(0.0))


def random_policy(market: Market, cfg: EnvConfig, seed: int) -> Backtest:
    """Uniform random actions from the agent's action space (seeded)."""
    space = action_space(cfg)
    space.seed(seed)
    return rollout(market, cfg, lambda obs: space.sample(), seed=seed)


def run_baselines(
    market: Market, cfg: EnvConfig, names: Sequence[str], random_runs: int, seed: int
) -> dict[str, list[Backtest]]:
    """Backtests of each named baseline; `random` holds `random_runs` seeded runs."""
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; valid: {', '.join(BASELINES)}")
    results: dict[str, list[Backtest]] = {}
    for name in names:
        if name == "buy_and_hold":
            results[name] = [buy_and_hold(market, cfg)]
        elif name == "flat":
            results[name] = [flat(market, cfg)]
        else:
            results[name] = [random_policy(market, cfg, seed + k) for k in range(random_runs)]
    return results
