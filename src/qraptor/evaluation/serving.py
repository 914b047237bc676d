"""A trained agent's decisions on market bars a client has: what the served model answers
(qraptor.tracking.served_agent loads a run's model, config and data record for it).

    bars (timestamp, open, high, low, close, volume; vwap, trades, position optional)
      --the run's features and frozen z-scores (qraptor.data.record_bars.features_of_bars)-->
      observations --the run's environment, costs and policy--> one decision per bar

The agent's own state (position, unrealised P&L, time in position) is part of what it
observes, so a decision depends on the account behind it. That account is replayed through
the run's environment over the bars given, from flat at the first bar with a whole window
behind it (after the features' warm-up and `start`), exactly as `qraptor backtest` replays
a span:

- without a ``position`` column the account follows the agent's own decisions: the
  decisions are `qraptor backtest --data`'s on the same bars (decisions.csv), bar for bar;
- with one (the target exposure, -1..1, the client's account held at each bar) the account
  follows the client's positions, so the agent decides on the state of the account the
  client really holds. The replay starts flat: send bars from a time it was flat.

The last bar is decided too (its fill is the next bar, not yet in the data): that is the
decision a live client acts on. Each decision: the bar's timestamp, the position held, the
action, its name and target exposure, and, for policies with an action distribution
(PPO, A2C on discrete actions), the probability of every action.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from qraptor.core.errors import DataError
from qraptor.data.record_bars import check_bar_spacing, features_of_bars
from qraptor.env.config import EnvConfig
from qraptor.env.market import Market
from qraptor.env.spaces import action_levels, action_names, target_name
from qraptor.env.trading_env import TradingEnv
from qraptor.evaluation.backtest import full_span

REQUIRED = ("timestamp", "open", "high", "low", "close", "volume")
POSITION = "position"
NAMED = "the request's bars"
OUTPUT = ("timestamp", "position", "action", "action_name", "target")
PROB_PREFIX = "prob_"


def decide_on_bars(
    model: Any,
    env_cfg: EnvConfig,
    record: dict[str, Any],
    frame: pd.DataFrame,
    *,
    deterministic: bool,
    seed: int | None,
    decisions: int = 1,
    start: str | None = None,
) -> pd.DataFrame:
    """The latest `decisions` decisions (0: every one) of SB3 `model`, trained under
    `env_cfg` on the data of `record` (data.json), on the bars of `frame`."""
    bars, positions = request_bars(frame)
    check_bar_spacing(bars, record, NAMED)
    observed = features_of_bars(bars, record, env_cfg.window, NAMED)
    warmup = len(bars) - len(observed)
    if start:
        observed = observed.loc[observed["timestamp"] >= _timestamp(start)]
        observed = observed.reset_index(drop=True)
    if len(observed) < env_cfg.window + 1:
        cut = len(bars) - warmup - len(observed)
        raise DataError(
            NAMED,
            f"too few bars: {len(bars)} given, {warmup} taken by the features' warm-up"
            f"{f', {cut} before start' if start else ''}, {len(observed)} left; the model "
            f"needs env.window + 1 = {env_cfg.window + 1} after its warm-up: send at least "
            f"{warmup + env_cfg.window + 1} bars{' from start' if start else ''}",
            rule="too_few_bars",
        )
    held = None if positions is None else _positions_at(observed, bars, positions)
    market = observed_market(observed, record, env_cfg.features)
    return _replay(model, env_cfg, market, held, decisions, deterministic, seed)


def observed_market(
    frame: pd.DataFrame, record: dict[str, Any], features: list[str] | None
) -> Market:
    """A market of `frame`'s bars and the run's observation columns, the env's `features`
    picked as `load_market` picks them."""
    market = Market.from_frame(frame, list(record["columns"]["observations"]))
    return market if features is None else market.select(features)


def _replay(
    model: Any,
    env_cfg: EnvConfig,
    market: Market,
    held: np.ndarray | None,
    decisions: int,
    deterministic: bool,
    seed: int | None,
) -> pd.DataFrame:
    env = TradingEnv(market, full_span(env_cfg))
    obs, _ = env.reset(seed=seed)
    bars: list[int] = []
    positions: list[float] = []
    actions: list[Any] = []
    observations: list[np.ndarray] = []
    while True:
        action, _ = model.predict(obs, deterministic=deterministic)
        bars.append(env.bar)
        positions.append(env.target)
        actions.append(action)
        observations.append(obs)
        if env.bar == len(market) - 1:
            break
        step = env.step(action) if held is None else env.step_to(held[env.bar + 1])
        obs, _, terminated, _, _ = step
        if terminated:  # a stop (ruin, max drawdown): the account trades no more
            break
    keep = slice(-decisions if decisions > 0 else None, None)
    table = decision_table(
        env_cfg, market.timestamps[np.asarray(bars)[keep]], actions[keep], positions[keep]
    )
    probabilities = action_probabilities(model, np.stack(observations[keep]))
    if probabilities is not None:
        for j, name in enumerate(action_names(env_cfg)):
            table[f"{PROB_PREFIX}{name}"] = probabilities[:, j]
    return table


def decision_table(
    env_cfg: Any, timestamps: np.ndarray, actions: list[Any], positions: list[float] | None
) -> pd.DataFrame:
    """One row per decision: timestamp (UTC), position held (when known), the action, its
    name and target exposure. Shared with `qraptor backtest`'s decisions.csv."""
    levels = action_levels(env_cfg)
    if levels:
        codes = [int(np.asarray(a).reshape(-1)[0]) for a in actions]
        targets = [levels[c] for c in codes]
        shown: list[Any] = codes
    else:  # continuous: the action is the target exposure
        targets = [float(np.asarray(a, dtype=np.float64).reshape(-1)[0]) for a in actions]
        shown = targets
    table = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(np.asarray(timestamps, dtype=np.int64), utc=True),
            POSITION: positions if positions is not None else np.nan,
            "action": shown,
            "action_name": [target_name(t) for t in targets],
            "target": np.asarray(targets, dtype=np.float64),
        }
    )
    return table if positions is not None else table.drop(columns=[POSITION])


def as_served(table: pd.DataFrame) -> pd.DataFrame:
    """`table` as the served model returns it: timestamps as ISO 8601 strings (UTC), which
    JSON carries as they are and any client parses."""
    out = table.copy()
    out["timestamp"] = [stamp.isoformat() for stamp in pd.DatetimeIndex(out["timestamp"])]
    return out


def action_probabilities(model: Any, observations: np.ndarray) -> np.ndarray | None:
    """[n, actions] probabilities of a policy with a categorical action distribution (PPO,
    A2C on discrete actions); None for others (DQN's greedy Q, continuous actions)."""
    import torch

    policy = getattr(model, "policy", None)
    if policy is None or not hasattr(policy, "get_distribution"):
        return None
    tensor, _ = policy.obs_to_tensor(observations)
    with torch.no_grad():
        distribution = policy.get_distribution(tensor).distribution
    probs = getattr(distribution, "probs", None)
    if probs is None or probs.ndim != 2:
        return None
    return np.asarray(probs.cpu().numpy(), dtype=np.float64)


def request_bars(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The bars of a request, checked (columns, numbers, time order: the row is named) and
    completed as the bar reduction completes bars without them (vwap = (H+L+C)/3, trades =
    1); the ``position`` column apart (None without one)."""
    frame = pd.DataFrame(frame).rename(columns=str.lower)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(
            NAMED,
            f"no column(s) {missing}; a request is bars: {', '.join(REQUIRED)} "
            f"(vwap, trades and {POSITION} optional), got {list(frame.columns)}",
            rule="request_columns",
        )
    numeric = [c for c in (*REQUIRED[1:], "vwap", "trades", POSITION) if c in frame.columns]
    bars = frame.copy()
    for column in numeric:
        values = pd.to_numeric(bars[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=np.float64))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                NAMED,
                f"row {row}: {column} = {frame[column].iloc[row]!r} is not a finite number",
                rule="request_values",
            )
        bars[column] = values.astype(np.float64)
    bars["timestamp"] = _timestamps(bars["timestamp"])
    steps = bars["timestamp"].diff().dt.total_seconds().to_numpy()[1:]
    if (steps <= 0).any():
        row = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise DataError(
            NAMED,
            f"row {row}: timestamp {bars['timestamp'].iloc[row]} is not after the row before's "
            f"({bars['timestamp'].iloc[row - 1]}): bars must be in time order, one per time",
            rule="request_order",
        )
    if "vwap" not in bars.columns:
        bars["vwap"] = (bars["high"] + bars["low"] + bars["close"]) / 3.0
    if "trades" not in bars.columns:
        bars["trades"] = 1.0
    positions = None
    if POSITION in bars.columns:
        positions = bars.pop(POSITION).to_numpy(dtype=np.float64)
        if (np.abs(positions) > 1).any():
            row = int(np.flatnonzero(np.abs(positions) > 1)[0])
            raise DataError(
                NAMED,
                f"row {row}: {POSITION} = {positions[row]:g} is outside -1..1 (a target "
                "exposure: a fraction of equity, negative short)",
                rule="request_values",
            )
    return bars.reset_index(drop=True), positions


def _positions_at(observed: pd.DataFrame, bars: pd.DataFrame, positions: np.ndarray) -> np.ndarray:
    """The client's positions at the observed bars (the warm-up rows are dropped)."""
    by_time = pd.Series(positions, index=pd.DatetimeIndex(bars["timestamp"]))
    return by_time.reindex(pd.DatetimeIndex(observed["timestamp"])).to_numpy(dtype=np.float64)


def _timestamps(values: pd.Series) -> pd.Series:
    try:
        if pd.api.types.is_numeric_dtype(values):  # JSON clients send epoch milliseconds
            return pd.to_datetime(values, unit="ms", utc=True)
        return pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise DataError(
            NAMED,
            f"timestamp: {exc} (ISO 8601 strings or epoch milliseconds)",
            rule="request_values",
        ) from None


def _timestamp(value: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except ValueError as exc:
        raise DataError(NAMED, f"start = {value!r}: {exc}", rule="request_values") from None
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
