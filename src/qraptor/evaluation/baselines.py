"""Baselines on the agent's span with the agent's costs: buy-and-hold, flat, two random
policies, moving-average crossover.

Each runs through `backtest.rollout`, i.e. the same environment, fills and costs as the
agent. Buy-and-hold and flat are target exposures (+1 and 0) set once and held: they run
with a continuous action (a target of exactly 1.0 or 0.0 whatever levels the agent's action
type offers), so "+1" means what it means for the agent (`limits.max_leverage` x equity).
The random policies are seeded; one run is one sample, so `random_runs` gives a
distribution, not a single number. `random` is matched to the agent: it moves between the
target exposures the agent held as the agent's own decisions did, at random times
(`TradingProfile`), so its time in market, number of trades, holding time and costs are
close to the agent's and "beats random" asks whether the agent's timing is better than
chance at the agent's own activity. `random_uniform` draws uniformly from the action space
at every bar (with three levels it trades on 2/3 of bars: it mostly measures costs). The
crossover is
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
from qraptor.evaluation.baseline_names import BASELINES, RANDOM


def target_policy(target: float) -> Policy:
    """Always ask for the same target exposure (held, never rebalanced)."""
    action = np.array([target], dtype=np.float32)
    return lambda obs: action


def _continuous(cfg: EnvConfig) -> EnvConfig:
    return dataclasses.replace(
        cfg, action=ActionConfig(type="continuous", levels=list(cfg.action.levels))
    )


def buy_and_hold(market: Market, cfg: EnvConfig, *, liquidate: bool = False) -> Backtest:
    """Long (target +1) from the first decision to the end, the position left to drift
    (and sold at the last fill when `liquidate`)."""
    return rollout(market, _continuous(cfg), target_policy(1.0), liquidate=liquidate)


def flat(market: Market, cfg: EnvConfig) -> Backtest:
    """Never trade: the cash curve every other result is measured against."""
    return rollout(market, _continuous(cfg), target_policy(0.0))


def random_policy(
    market: Market, cfg: EnvConfig, seed: int, *, liquidate: bool = False
) -> Backtest:
    """Uniform random actions from the agent's action space (seeded): `random_uniform`."""
    space = action_space(cfg)
    space.seed(seed)
    return rollout(market, cfg, lambda obs: space.sample(), seed=seed, liquidate=liquidate)


@dataclasses.dataclass(frozen=True)
class TradingProfile:
    """What the matched random policy copies from a policy's backtest: the Markov chain its
    held targets follow, fitted to its decisions (the maximum-likelihood chain).

    From target i, the agent moved to target j at a share ``transitions[i, j]`` of its
    decisions taken at i (the diagonal: it kept i). A random run starts flat, as every
    account does, and draws each next target from its current row: it leaves each target
    about as often as the agent did (the same mean holding time per target, the same number
    of trades), goes where the agent went (long to flat, or straight to short: the same
    trade sizes and costs) and so spends about the same share of time at each; only the
    timing is random, drawn without looking at the market.
    """

    levels: np.ndarray  # the targets: flat (the start) and every one the agent held
    transitions: np.ndarray  # [level, level] row-stochastic; a row never left stays put


def trading_profile(agent: Backtest) -> TradingProfile:
    """The `TradingProfile` of `agent`'s decisions (the held target after each)."""
    path = np.concatenate([[0.0], agent.targets])  # the account starts flat
    levels, states = np.unique(path, return_inverse=True)
    counts = np.zeros((len(levels), len(levels)))
    np.add.at(counts, (states[:-1], states[1:]), 1.0)
    visits = counts.sum(axis=1, keepdims=True)
    never_left = visits[:, 0] == 0  # reached only by the last decision
    counts[never_left, never_left] = 1.0
    return TradingProfile(levels, counts / counts.sum(axis=1, keepdims=True))


def matched_random(
    market: Market, cfg: EnvConfig, profile: TradingProfile, seed: int, *, liquidate: bool = False
) -> Backtest:
    """One seeded run of the random policy matched to `profile` (see `TradingProfile`).

    Targets are set as exposures (a continuous action), so any level the agent held can be
    asked for; `min_trade` applies only if the agent's own actions are continuous, as the
    kernel applies it."""
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(profile.transitions, axis=1)
    state = [int(np.flatnonzero(profile.levels == 0.0)[0])]  # flat, as the account starts

    def act(obs: np.ndarray) -> np.ndarray:
        row = cumulative[state[0]]
        state[0] = min(
            int(np.searchsorted(row, rng.random() * row[-1], side="right")), len(row) - 1
        )
        return np.array([profile.levels[state[0]]])

    run_cfg = _continuous(cfg)
    if cfg.action.type != "continuous":
        run_cfg = dataclasses.replace(
            run_cfg, limits=dataclasses.replace(cfg.limits, min_trade=0.0)
        )
    return rollout(market, run_cfg, act, seed=seed, liquidate=liquidate)


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


def ma_crossover(
    market: Market, cfg: EnvConfig, fast: int, slow: int, *, liquidate: bool = False
) -> Backtest:
    """The moving-average crossover rule on closes (see the module's docstring)."""
    targets = crossover_targets(market.close, fast, slow, can_short(cfg))
    return rollout_by_bar(
        market,
        _continuous(cfg),
        lambda bar: np.array([targets[bar]], dtype=np.float32),
        liquidate=liquidate,
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
    *,
    liquidate: bool = False,
    agent: Backtest | None = None,
) -> dict[str, list[Backtest]]:
    """Backtests of each named baseline; `random` (matched to the `agent` backtest, which it
    needs) and `random_uniform` hold `random_runs` seeded runs each; `ma_crossover` uses the
    (fast, slow) `ma_windows`: bars or durations (`ma_bars`). `liquidate`: every one ends
    the span in cash, as the agent's backtest must then."""
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; valid: {', '.join(BASELINES)}")
    if RANDOM in names and agent is None:
        raise ValueError("the matched random baseline needs the agent's backtest (agent=...)")
    results: dict[str, list[Backtest]] = {}
    runs = range(seed, seed + random_runs)
    for name in names:
        if name == "buy_and_hold":
            results[name] = [buy_and_hold(market, cfg, liquidate=liquidate)]
        elif name == "flat":
            results[name] = [flat(market, cfg)]
        elif name == "ma_crossover":
            fast, slow = ma_bars(market, ma_windows)
            results[name] = [ma_crossover(market, cfg, fast, slow, liquidate=liquidate)]
        elif name == RANDOM:
            assert agent is not None  # checked above
            profile = trading_profile(agent)
            results[name] = [
                matched_random(market, cfg, profile, k, liquidate=liquidate) for k in runs
            ]
        else:
            results[name] = [random_policy(market, cfg, k, liquidate=liquidate) for k in runs]
    return results
