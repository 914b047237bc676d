"""Deterministic backtests: one pass of a policy over a whole split with the single env.

The trade log and the equity curve are rebuilt from the environment's per-step `info`
alone, so a backtest uses exactly the accounting the agent was trained with (fills at the
next bar, the same costs and stops); nothing is recomputed here. Baselines go through the
same function (`baselines.py`), hence the same costs.

Liquidation (`liquidate=True`, what every evaluation does unless `session.eval.liquidate`
is false): the last step of the span is not the policy's but the env's `close_out`, a flat
target filled at the last bar's fill price with the kernel's fees and slippage, so the
final equity is cash, not a mark at the last close; a run a stop ended early exits at the
next bar's fill the same way. The closing trade is a row of the trade log and of the
curve like any other. Without it the open position stays marked to market, as the env
leaves it (training episodes are never liquidated).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qraptor.core.atomic import atomic_path
from qraptor.env.config import EnvConfig, EpisodeConfig
from qraptor.env.market import Market
from qraptor.env.trading_env import TradingEnv

# Observation -> action, for one observation [window, columns] at a time.
Policy = Callable[[np.ndarray], Any]
STEP_KEYS = (
    "fill_price",
    "exec_price",
    "trade",
    "units",
    "exposure",
    "costs",
    "cash",
    "equity",
    "equity_change",
)
CURVE_COLUMNS = ("timestamp", "bar", "close", *STEP_KEYS, "position", "reward")
TRADE_COLUMNS = (
    "timestamp",
    "bar",
    "side",
    "quantity",
    "fill_price",
    "exec_price",
    "notional",
    "costs",
    "units",
    "cash",
    "equity",
)


@dataclasses.dataclass
class Backtest:
    """An equity curve (one row per bar: the start bar, then every step) and its trades."""

    curve: pd.DataFrame
    trades: pd.DataFrame
    terminated: bool  # an env stop (ruin, max drawdown) ended it before the end of the span
    # the target exposure held after each of the policy's own decisions (a liquidation
    # step is not one): what a baseline matched to this policy's trading copies
    targets: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    # the policy's own actions, one per decision, from the curve's first bar on (a served
    # policy's decisions are checked against these: qraptor.evaluation.serving)
    actions: list[Any] = dataclasses.field(default_factory=list)


def full_span(cfg: EnvConfig) -> EnvConfig:
    """`cfg` with episodes covering the whole market (first full window to the last bar)."""
    return dataclasses.replace(cfg, episode=EpisodeConfig(mode="full", length=cfg.episode.length))


def rollout(
    market: Market,
    cfg: EnvConfig,
    policy: Policy,
    seed: int | None = None,
    *,
    liquidate: bool = False,
) -> Backtest:
    """Run `policy` over the whole of `market` (episode mode forced to `full`); with
    `liquidate`, the span ends in cash (see the module's docstring)."""
    env = TradingEnv(market, full_span(cfg))
    return _play(env, cfg, policy, seed, liquidate)


def rollout_by_bar(
    market: Market, cfg: EnvConfig, decide: Callable[[int], Any], *, liquidate: bool = False
) -> Backtest:
    """Like `rollout`, for a rule that decides from the bar index (`decide(t)` may use data up
    to bar t only: the env fills it at t+1, as for the agent)."""
    env = TradingEnv(market, full_span(cfg))
    return _play(env, cfg, lambda obs: decide(env.bar), None, liquidate)


def _play(
    env: TradingEnv, cfg: EnvConfig, policy: Policy, seed: int | None, liquidate: bool
) -> Backtest:
    obs, info = env.reset(seed=seed)
    start = env.bar
    rows: list[dict[str, Any]] = []
    rewards: list[float] = []
    targets: list[float] = []
    actions: list[Any] = []
    terminated = truncated = False
    while not (terminated or truncated):
        if liquidate and env.bar + 1 >= env.last_bar:
            step = env.close_out()  # the span's last fill: out of the market, costs paid
        else:
            actions.append(policy(obs))
            step = env.step(actions[-1])
            targets.append(env.target)
        obs, reward, terminated, truncated, info = step
        rows.append(info)
        rewards.append(float(reward))
    stopped = bool(terminated)
    if liquidate and stopped and info["units"] != 0 and env.bar + 1 < len(env.market):
        # a stop ended the run with a position open: it exits at the next bar's fill
        _, reward, _, _, info = env.close_out()
        rows.append(info)
        rewards.append(float(reward))
    curve = _curve(env.market, cfg.initial_cash, start, rows, rewards)
    return Backtest(
        curve=curve,
        trades=trade_log(curve),
        terminated=stopped,
        targets=np.asarray(targets, dtype=np.float64),
        actions=actions,
    )


def _curve(
    market: Market,
    initial_cash: float,
    start: int,
    rows: list[dict[str, Any]],
    rewards: list[float],
) -> pd.DataFrame:
    steps = pd.DataFrame.from_records(rows, columns=["timestamp", *STEP_KEYS])
    first = {key: 0.0 for key in STEP_KEYS}
    first.update(cash=initial_cash, equity=initial_cash, fill_price=np.nan, exec_price=np.nan)
    curve = pd.concat(
        [pd.DataFrame([{"timestamp": int(market.timestamps[start]), **first}]), steps],
        ignore_index=True,
    )
    bars = start + np.arange(len(curve))
    curve.insert(1, "bar", bars)
    curve.insert(2, "close", market.close[bars])
    curve["timestamp"] = pd.to_datetime(curve["timestamp"].astype("int64"), unit="ns", utc=True)
    equity = curve["equity"].to_numpy()
    curve["position"] = np.where(equity > 0, curve["exposure"].to_numpy() / equity, 0.0)
    curve["reward"] = [0.0, *rewards]
    return curve[list(CURVE_COLUMNS)]


def trade_log(curve: pd.DataFrame) -> pd.DataFrame:
    """One row per fill: side, quantity, prices, notional at the execution price, costs."""
    fills = curve[curve["trade"] != 0]
    log = pd.DataFrame(
        {
            "timestamp": fills["timestamp"],
            "bar": fills["bar"],
            "side": np.where(fills["trade"] > 0, "buy", "sell"),
            "quantity": fills["trade"].abs(),
            "fill_price": fills["fill_price"],
            "exec_price": fills["exec_price"],
            "notional": fills["trade"].abs() * fills["exec_price"],
            "costs": fills["costs"],
            "units": fills["units"],
            "cash": fills["cash"],
            "equity": fills["equity"],
        }
    )
    return log.reset_index(drop=True)[list(TRADE_COLUMNS)]


def model_policy(model: Any, deterministic: bool = True) -> Policy:
    """A policy from a trained SB3 model (`model.predict` on one observation)."""

    def act(obs: np.ndarray) -> Any:
        action, _ = model.predict(obs, deterministic=deterministic)
        return action

    return act


def backtest_model(
    model: Any,
    market: Market,
    cfg: EnvConfig,
    deterministic: bool = True,
    *,
    liquidate: bool = False,
) -> Backtest:
    """Deterministic (by default) rollout of a trained SB3 model over `market`."""
    return rollout(market, cfg, model_policy(model, deterministic), liquidate=liquidate)


def write_backtest(backtest: Backtest, folder: Path, prefix: str = "") -> tuple[Path, Path]:
    """Write `<prefix>trades.csv` and `<prefix>equity.csv` in `folder` atomically."""
    trades_path = Path(folder) / f"{prefix}trades.csv"
    equity_path = Path(folder) / f"{prefix}equity.csv"
    for frame, path in ((backtest.trades, trades_path), (backtest.curve, equity_path)):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
    return trades_path, equity_path
