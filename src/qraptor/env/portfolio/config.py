"""Schema of conf/env/portfolio.yaml: the portfolio environment's settings (types and
ranges; every value lives in the YAML)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from qraptor.core.config import check, load_section
from qraptor.env.config import EpisodeConfig
from qraptor.env.portfolio.weights import MAPPINGS

PORTFOLIO = "portfolio"  # env.kind of a portfolio session
FILL_PRICES = ("open", "close")
REWARD_TYPES = ("log_return", "differential_sharpe")


@dataclass
class WeightsConfig:
    mapping: str
    temperature: float
    logit_bound: float
    gross_cap: float
    max_weight: float
    band: float

    def __post_init__(self) -> None:
        check(self.mapping in MAPPINGS, "weights.mapping", f"valid: {', '.join(MAPPINGS)}")
        check(self.temperature > 0, "weights.temperature", "must be > 0")
        check(self.logit_bound > 0, "weights.logit_bound", "must be > 0")
        check(self.gross_cap > 0, "weights.gross_cap", "must be > 0")
        check(0 < self.max_weight <= 1, "weights.max_weight", "must be in (0, 1]")
        check(0 <= self.band < 1, "weights.band", "must be in [0, 1)")


@dataclass
class PortfolioExecutionConfig:
    price: str

    def __post_init__(self) -> None:
        check(self.price in FILL_PRICES, "execution.price", f"valid: {', '.join(FILL_PRICES)}")


@dataclass
class PortfolioCostsConfig:
    fee_rate: float
    slippage_bps: float

    @property
    def rate(self) -> float:
        """The proportional cost of a trade: fee plus slippage, a share of its notional."""
        return self.fee_rate + self.slippage_bps * 1e-4

    def __post_init__(self) -> None:
        check(0 <= self.fee_rate < 0.5, "costs.fee_rate", "must be in [0, 0.5)")
        check(0 <= self.slippage_bps < 5000, "costs.slippage_bps", "must be in [0, 5000)")


@dataclass
class PortfolioRewardConfig:
    type: str
    sharpe_eta: float
    scale: float

    def __post_init__(self) -> None:
        check(self.type in REWARD_TYPES, "reward.type", f"valid: {', '.join(REWARD_TYPES)}")
        check(0 < self.sharpe_eta < 1, "reward.sharpe_eta", "must be in (0, 1)")
        check(self.scale > 0 and math.isfinite(self.scale), "reward.scale", "must be > 0")


@dataclass
class PortfolioBaselinesConfig:
    """Settings of the portfolio baselines a session is evaluated against."""

    top_k: int  # momentum_top_k: instruments held
    lookback: int  # momentum and the optimisers: trailing bars
    refit_every: int  # min_variance, max_sharpe: bars between refits

    def __post_init__(self) -> None:
        check(self.top_k >= 1, "baselines.top_k", "must be >= 1")
        check(self.lookback >= 2, "baselines.lookback", "must be >= 2")
        check(self.refit_every >= 1, "baselines.refit_every", "must be >= 1")


@dataclass
class PortfolioEnvConfig:
    """Schema of conf/env/portfolio.yaml (see its comments)."""

    kind: str  # "portfolio": what tells this env section from the single instrument's
    window: int
    features: list[str] | None
    weights: WeightsConfig
    execution: PortfolioExecutionConfig
    costs: PortfolioCostsConfig
    initial_cash: float
    reward: PortfolioRewardConfig
    episode: EpisodeConfig  # the single-instrument env's: full | random_window, length
    baselines: PortfolioBaselinesConfig

    def __post_init__(self) -> None:
        check(self.kind == PORTFOLIO, "kind", f"must be '{PORTFOLIO}'")
        check(self.window >= 1, "window", "must be >= 1")
        check(self.initial_cash > 0 and math.isfinite(self.initial_cash), "initial_cash", "> 0")


def is_portfolio_env(section: object) -> bool:
    """Whether a composed `env` section (a mapping) is the portfolio environment's."""
    get = getattr(section, "get", None)
    return callable(get) and get("kind") == PORTFOLIO


def load_portfolio_env_config(overrides: Sequence[str] = ()) -> PortfolioEnvConfig:
    """conf/env/portfolio.yaml with Hydra `overrides` (``weights.band=0.01``), validated."""
    return load_section("train", "env", PortfolioEnvConfig, ["env=portfolio", *overrides])
