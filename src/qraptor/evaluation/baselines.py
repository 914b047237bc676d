"""Baselines on the agent's span with the agent's costs: buy-and-hold, flat, random policy,
moving-average crossover.

Each runs through `backtest.rollout`, i.e. the same environment, fills and costs as the
agent. Buy-and-hold and flat are target exposures (+1 and 0) set once and held: they run
with a continuous action (a target of exactly 1.0 or 0.0 whatever levels the agent's action
type offers), so "+1" means what it means for the agent (`limits.max_leverage` x equity).
The random policy draws uniformly from the agent's own action space, seeded; one run is
one sample, so `random_runs` gives a distribution, not a single number. The crossover is
the classic trend rule a learned agent should at least match: long while the trailing mean of
the last `fast` closes is above that of the last `slow`, else short (flat if the agent cannot
short); decided at a bar's close from closes up to it, filled at the next bar.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from qraptor.data.lengths import BarClock
from qraptor.env.config import ActionConfig, EnvConfig
from qraptor.env.market import Market
from qraptor.env.spaces import action_space
from qraptor.evaluation.backtest import Backtest, Policy, rollout, rollout_by_bar
from qraptor.evaluation.baseline_names import BASELINES


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


def can_short(cfg: EnvConfig) -> bool:
    """Whether the agent's action space reaches a negative target exposure."""
    if cfg.action.type == "long_only":
        return False
    if cfg.action.type == "levels":
        return min(cfg.action.levels) < 0
    return True  # discrete {short, flat, long}; continuous [-1, 1]


def crossover_targets(close: np.ndarray, fast: int, slow: int, short: bool) -> np.ndarray:
    """Target exposure decided at each bar t from closes[: t + 1] only: +1 while the mean of
    the last `fast` closes is above the mean of the last `slow`, else -1 (0 if not `short`);
    0 until `slow` closes exist."""
    if not 1 <= fast < slow:
        raise ValueError(f"ma_crossover windows need 1 <= fast < slow, got {fast}, {slow}")
    close = np.asarray(close, dtype=np.float64)
    targets = np.zeros(len(close))
    if len(close) < slow:
        return targets
    sums = np.concatenate([[0.0], np.cumsum(close)])
    ends = np.arange(slow, len(close) + 1)  # bar t = end - 1
    fast_mean = (sums[ends] - sums[ends - fast]) / fast
    slow_mean = (sums[ends] - sums[ends - slow]) / slow
    targets[slow - 1 :] = np.where(fast_mean > slow_mean, 1.0, -1.0 if short else 0.0)
    return targets


def ma_crossover(market: Market, cfg: EnvConfig, fast: int, slow: int) -> Backtest:
    """The moving-average crossover rule on closes (see the module's docstring)."""
    targets = crossover_targets(market.close, fast, slow, can_short(cfg))
    return rollout_by_bar(
        market, _continuous(cfg), lambda bar: np.array([targets[bar]], dtype=np.float32)
    )


def ma_bars(market: Market, ma_windows: Sequence[int | str]) -> tuple[int, int]:
    """The (fast, slow) `ma_windows` in bars of `market`: durations (``min(24, 1mo)``) are
    counted on its bars (qraptor.data.lengths), and slow is at least fast + 1."""
    clock = BarClock(market.timestamps)
    fast = clock.bars(ma_windows[0], "session.eval.ma_windows.0")
    slow = clock.bars(ma_windows[1], "session.eval.ma_windows.1", minimum=fast + 1)
    return fast, slow


def run_baselines(
    market: Market,
    cfg: EnvConfig,
    names: Sequence[str],
    random_runs: int,
    seed: int,
    ma_windows: Sequence[int | str] = (24, 96),
) -> dict[str, list[Backtest]]:
    """Backtests of each named baseline; `random` holds `random_runs` seeded runs;
    `ma_crossover` uses the (fast, slow) `ma_windows`: bars or durations (`ma_bars`)."""
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; valid: {', '.join(BASELINES)}")
    results: dict[str, list[Backtest]] = {}
    for name in names:
        if name == "buy_and_hold":
            results[name] = [buy_and_hold(market, cfg)]
        elif name == "flat":
            results[name] = [flat(market, cfg)]
        elif name == "ma_crossover":
            fast, slow = ma_bars(market, ma_windows)
            results[name] = [ma_crossover(market, cfg, fast, slow)]
        else:
            results[name] = [random_policy(market, cfg, seed + k) for k in range(random_runs)]
    return results
