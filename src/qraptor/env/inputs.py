"""The arrays the compiled kernel reads, built from a Market and an EnvConfig."""

from __future__ import annotations

import numpy as np

from qraptor.env.config import EnvConfig
from qraptor.env.kernel import (
    FEE_RATE,
    FIXED_FEE,
    INITIAL_CASH,
    MAX_DRAWDOWN,
    MAX_LEVERAGE,
    MAX_UNITS,
    MIN_TRADE,
    N_FIELDS,
    N_PARAMS,
    N_STATE,
    PENALTY,
    REWARD_CODES,
    REWARD_TYPE,
    RUIN_EQUITY,
    SCALE,
    SHARPE_ETA,
    STATE_CODES,
    STATE_CODES_BY_NAME,
    WIDTH,
    WINDOW,
)
from qraptor.env.market import Market


def market_arrays(
    market: Market, execution_price: str, slippage_bps: float, range_fraction: float
) -> np.ndarray:
    """Per-bar flat [T * 3] float64: fill price, slippage fraction, close (kernel input)."""
    fill = getattr(market, execution_price)
    slippage = slippage_bps / 1e4 + range_fraction * (market.high - market.low) / fill
    return np.stack([fill, slippage, market.close], axis=1).astype(np.float64).ravel()


def kernel_params(cfg: EnvConfig, n_features: int) -> np.ndarray:
    """The kernel's parameter vector for `cfg`."""
    params = np.zeros(N_PARAMS)
    params[FEE_RATE] = cfg.costs.fee_rate
    params[FIXED_FEE] = cfg.costs.fixed_fee
    params[MAX_LEVERAGE] = cfg.limits.max_leverage
    params[MAX_UNITS] = np.inf if cfg.limits.max_units is None else cfg.limits.max_units
    params[MIN_TRADE] = cfg.limits.min_trade if cfg.action.type == "continuous" else 0.0
    params[RUIN_EQUITY] = cfg.stop.ruin_fraction * cfg.initial_cash
    params[MAX_DRAWDOWN] = np.inf if cfg.stop.max_drawdown is None else cfg.stop.max_drawdown
    params[REWARD_TYPE] = REWARD_CODES[cfg.reward.type]
    params[SHARPE_ETA] = cfg.reward.sharpe_eta
    params[PENALTY] = cfg.reward.drawdown_penalty
    params[SCALE] = cfg.reward.scale
    params[WINDOW] = cfg.window
    params[INITIAL_CASH] = cfg.initial_cash
    params[N_STATE] = len(cfg.state)
    params[WIDTH] = n_features + len(cfg.state)
    for k, name in enumerate(cfg.state):
        params[STATE_CODES + k] = STATE_CODES_BY_NAME[name]
    return params


def single_book(bars: np.ndarray, params: np.ndarray) -> np.ndarray:
    """One float64 row [1, N_FIELDS + N_PARAMS + 3T]: account, parameters, bars.

    Packing them makes the per-step compiled call unbox one array instead of three
    (~50 ns each), which matters at ~1 us per step.
    """
    return np.concatenate([np.zeros(N_FIELDS), params, bars])[None, :].copy()
