"""Schema of conf/env: what the agent sees, how it trades, what it is paid.

The dataclasses define types and ranges only; every value lives in conf/env/default.yaml.
Keys in range errors are relative to the `env` group (``to_schema`` adds the ``env.``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from qraptor.core.config import check, load_section

ACTION_TYPES = ("discrete", "long_only", "levels", "continuous")
EXECUTION_PRICES = ("open", "vwap", "close")
REWARD_TYPES = ("log_return", "differential_sharpe", "drawdown_penalty")
EPISODE_MODES = ("full", "random_window")
STATE_NAMES = ("position", "unrealised_pnl", "time_in_position")


@dataclass
class ActionConfig:
    type: str  # discrete | long_only | levels | continuous
    levels: list[float]  # target exposures offered when type = levels

    def __post_init__(self) -> None:
        check(self.type in ACTION_TYPES, "action.type", f"valid: {', '.join(ACTION_TYPES)}")
        if self.type == "levels":
            check(len(self.levels) >= 2, "action.levels", "give at least two target levels")
            check(all(-1.0 <= x <= 1.0 for x in self.levels), "action.levels", "must be in [-1, 1]")
            check(len(set(self.levels)) == len(self.levels), "action.levels", "must be distinct")


@dataclass
class ExecutionConfig:
    price: str  # the price of bar t+1 a decision taken at bar t's close fills at

    def __post_init__(self) -> None:
        check(
            self.price in EXECUTION_PRICES,
            "execution.price",
            f"'{self.price}' is not one of {', '.join(EXECUTION_PRICES)}",
        )


@dataclass
class CostsConfig:
    fee_rate: float  # share of traded notional
    fixed_fee: float  # cash per trade
    slippage_bps: float  # bp of the fill price, against the trader
    slippage_range_fraction: float  # extra slippage: this share of the fill bar's high-low

    def __post_init__(self) -> None:
        check(0.0 <= self.fee_rate < 1.0, "costs.fee_rate", "must be in [0, 1)")
        check(self.fixed_fee >= 0.0, "costs.fixed_fee", "must be >= 0")
        check(0.0 <= self.slippage_bps < 1e4, "costs.slippage_bps", "must be in [0, 10000)")
        check(
            0.0 <= self.slippage_range_fraction <= 1.0,
            "costs.slippage_range_fraction",
            "must be in [0, 1]",
        )


@dataclass
class LimitsConfig:
    max_leverage: float  # |exposure| / equity at a target of +-1, at the fill
    max_units: float | None  # cap on |units| held; null = none
    min_trade: float  # continuous actions: target changes up to this are ignored

    def __post_init__(self) -> None:
        check(self.max_leverage > 0.0, "limits.max_leverage", "must be > 0")
        check(
            self.max_units is None or self.max_units > 0.0,
            "limits.max_units",
            "must be > 0 or null",
        )
        check(0.0 <= self.min_trade < 2.0, "limits.min_trade", "must be in [0, 2)")


@dataclass
class StopConfig:
    ruin_fraction: float  # terminated when equity <= this share of the initial cash
    max_drawdown: float | None  # terminated when drawdown from the peak exceeds this

    def __post_init__(self) -> None:
        check(0.0 <= self.ruin_fraction < 1.0, "stop.ruin_fraction", "must be in [0, 1)")
        check(
            self.max_drawdown is None or 0.0 < self.max_drawdown < 1.0,
            "stop.max_drawdown",
            "must be in (0, 1) or null",
        )


@dataclass
class RewardConfig:
    type: str  # log_return | differential_sharpe | drawdown_penalty
    sharpe_eta: float  # adaptation rate of the differential Sharpe ratio's moments
    drawdown_penalty: float  # lambda: penalty per unit increase of the drawdown
    scale: float  # multiplies every reward

    def __post_init__(self) -> None:
        check(self.type in REWARD_TYPES, "reward.type", f"valid: {', '.join(REWARD_TYPES)}")
        check(0.0 < self.sharpe_eta < 1.0, "reward.sharpe_eta", "must be in (0, 1)")
        check(self.drawdown_penalty >= 0.0, "reward.drawdown_penalty", "must be >= 0")
        check(self.scale > 0.0 and math.isfinite(self.scale), "reward.scale", "must be > 0")


@dataclass
class EpisodeConfig:
    mode: str  # full | random_window
    length: int  # random_window: steps per episode

    def __post_init__(self) -> None:
        check(self.mode in EPISODE_MODES, "episode.mode", f"valid: {', '.join(EPISODE_MODES)}")
        check(self.length >= 1, "episode.length", "must be >= 1")


@dataclass
class EnvConfig:
    """Schema of conf/env (see the comments in conf/env/default.yaml)."""

    window: int
    features: list[str] | None  # normalised feature names; null = all of the dataset's
    state: list[str]  # agent-state columns appended to every window row, in this order
    action: ActionConfig
    execution: ExecutionConfig
    costs: CostsConfig
    limits: LimitsConfig
    initial_cash: float
    stop: StopConfig
    reward: RewardConfig
    episode: EpisodeConfig

    def __post_init__(self) -> None:
        check(self.window >= 1, "window", "must be >= 1")
        check(
            self.features is None or len(self.features) > 0,
            "features",
            "list at least one feature, or null for all of them",
        )
        if self.features is not None:
            check(len(set(self.features)) == len(self.features), "features", "has duplicates")
        unknown = [s for s in self.state if s not in STATE_NAMES]
        check(not unknown, "state", f"unknown {unknown}; valid: {', '.join(STATE_NAMES)}")
        check(len(set(self.state)) == len(self.state), "state", "has duplicates")
        check(
            self.initial_cash > 0.0 and math.isfinite(self.initial_cash),
            "initial_cash",
            "must be > 0",
        )


def load_env_config(overrides: Sequence[str] = ()) -> EnvConfig:
    """The `env` section of conf/train.yaml with Hydra `overrides`
    (``reward.type=differential_sharpe``, ``env.window=16``), validated: the environment a
    training session of the same overrides would use."""
    return load_section("train", "env", EnvConfig, overrides)
