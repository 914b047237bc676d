"""The planted market and its oracle (issue 14): a realistic edge that survives the default
costs, and a yardstick that trades it without looking ahead and pays what the agent pays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qraptor.data.split import load_split
from qraptor.env import load_env_config
from qraptor.evaluation.planted import (
    HOURLY_CRYPTO,
    LONG_TEST_SPLIT,
    oracle,
    oracle_targets,
    planted_dataset,
    trade_cost,
)

COST = 2.5e-4  # the default fee (2 bp) + slippage (0.5 bp)


def test_the_oracle_trades_the_forecast_only_when_it_beats_the_cost() -> None:
    # log returns: +1%, +0.1%, -0.5%, -1%, +0.2%; phi 0.1 -> forecasts 10, 1, -5, -10, 2 bp
    close = 100.0 * np.exp(np.cumsum([0.0, 0.01, 0.001, -0.005, -0.01, 0.002]))
    targets = oracle_targets(close, ar_coef=0.1, cost=COST)
    # flat, long (10 bp > 2.5), hold (1 bp), short (-5), short, hold (2 bp)
    assert targets.tolist() == [0.0, 1.0, 1.0, -1.0, -1.0, -1.0]
    assert oracle_targets(close, ar_coef=0.0, cost=COST).tolist() == [0.0] * 6  # random walk


def test_the_oracle_never_looks_ahead() -> None:
    rng = np.random.default_rng(3)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 300)))
    before = oracle_targets(close, ar_coef=0.1, cost=COST)
    for t in (0, 1, 50, 150, 298):
        changed = close.copy()
        changed[t + 1 :] *= np.exp(rng.normal(0.0, 0.05, len(close) - t - 1))
        after = oracle_targets(changed, ar_coef=0.1, cost=COST)
        np.testing.assert_array_equal(after[: t + 1], before[: t + 1])
        assert not np.array_equal(after[t + 1 :], before[t + 1 :]) or t > 290


def test_the_oracle_is_backtested_by_the_env_at_its_costs(random_walk) -> None:
    cfg = load_env_config(["window=4", "episode.mode=full"])  # the default costs
    market = random_walk(5, n=500, vol=0.01)
    backtest = oracle(market, cfg, ar_coef=0.1)
    targets = oracle_targets(market.close, 0.1, trade_cost(cfg))
    assert trade_cost(cfg) == pytest.approx(COST)
    curve = backtest.curve
    # The decision at bar t is held through bar t+1 (filled at its open, marked at its close).
    decided = targets[curve["bar"].to_numpy()[:-1]]
    held = np.sign(curve["units"].to_numpy()[1:])
    np.testing.assert_array_equal(held, decided)
    assert curve["costs"].sum() > 0
    fills = curve["trade"] != 0
    notional = (curve["trade"].abs() * curve["fill_price"])[fills]
    np.testing.assert_allclose(curve["costs"][fills], notional * COST, rtol=1e-3)


def test_the_hourly_planted_market_shows_its_coefficient_round_the_clock(tmp_path) -> None:
    meta = planted_dataset(
        tmp_path, ar_coef=0.1, days=365, seed=4, market=HOURLY_CRYPTO, overrides=LONG_TEST_SPLIT
    )
    bars = load_split(tmp_path, "all")
    stamps = pd.DatetimeIndex(bars["timestamp"])
    assert (np.diff(stamps.asi8) == 3_600 * 10**9).all()  # every hour, weekends included
    assert set(stamps.day_of_week) == set(range(7)) and set(stamps.hour) == set(range(24))
    returns = np.diff(np.log(bars["close"].to_numpy()))
    lag1 = np.corrcoef(returns[:-1], returns[1:])[0, 1]
    assert 0.1 - 0.035 < lag1 < 0.1 + 0.035  # ~3 standard errors over 8.6k bars
    assert 0.007 < returns.std() < 0.013  # ~1 % a bar: the edge (~8 bp) beats 2.5 bp costs
    spans = meta["chrono"]["spans"]
    assert spans["test"]["rows"] / meta["rows"] == pytest.approx(0.3, abs=0.01)
    assert not meta["walk_forward"]["enabled"]


def test_the_oracle_exits_at_the_end_of_the_span_when_the_agent_does(random_walk) -> None:
    cfg = load_env_config(["window=4", "episode.mode=full"])
    market = random_walk(6, n=300, vol=0.01)
    held = oracle(market, cfg, ar_coef=0.1).curve
    closed = oracle(market, cfg, ar_coef=0.1, liquidate=True).curve
    assert held["units"].iloc[-1] != 0  # the rule is never flat once it has traded
    assert closed["units"].iloc[-1] == 0 and closed["costs"].iloc[-1] > 0
    assert len(closed) == len(held)
