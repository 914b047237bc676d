"""Backtests rebuild the env's accounting from its info; baselines pay the same costs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qraptor.evaluation.backtest import (
    CURVE_COLUMNS,
    TRADE_COLUMNS,
    backtest_model,
    rollout,
    write_backtest,
)
from qraptor.evaluation.baselines import (
    buy_and_hold,
    crossover_targets,
    flat,
    ma_crossover,
    random_policy,
    run_baselines,
)
from qraptor.evaluation.evaluate import evaluate_model, write_evaluation
from qraptor.evaluation.metrics import compute_metrics


class AlwaysLong:
    """A stand-in for an SB3 model: predicts discrete action 2 (target +1)."""

    def __init__(self) -> None:
        self.deterministic: list[bool] = []

    def predict(self, obs: np.ndarray, deterministic: bool = True):
        assert obs.shape == (1, 3)  # window 1 x (2 features + position)
        self.deterministic.append(deterministic)
        return np.int64(2), None


def test_buy_and_hold_equity_by_hand(market, exact_config) -> None:
    # Decide at bar 0's close, fill at bar 1's open (100): 10 units; mark at the closes.
    backtest = buy_and_hold(market([100.0, 110.0, 121.0, 110.0]), exact_config())
    np.testing.assert_allclose(backtest.curve["equity"], [1000, 1100, 1210, 1100])
    assert backtest.curve["bar"].tolist() == [0, 1, 2, 3]
    assert len(backtest.trades) == 1
    fill = backtest.trades.iloc[0]
    assert (fill["side"], fill["quantity"], fill["fill_price"]) == ("buy", 10.0, 100.0)


def test_costs_follow_the_env_rules(market, exact_config) -> None:
    cfg = exact_config("costs.fee_rate=0.001", "costs.slippage_bps=10")
    curve = buy_and_hold(market([100.0, 110.0, 121.0, 110.0]), cfg).curve
    # exec 100 * 1.001; fee 0.001 * 10 * 100.1; costs = fee + 10 * 100 * 0.001
    assert curve["exec_price"].iloc[1] == pytest.approx(100.1)
    assert curve["costs"].iloc[1] == pytest.approx(1.001 + 1.0)
    assert curve["cash"].iloc[1] == pytest.approx(1000 - 1001.0 - 1.001)
    assert curve["equity"].iloc[1] == pytest.approx(1100 - 2.001)


def test_the_curve_adds_up(random_walk, exact_config) -> None:
    cfg = exact_config("costs.fee_rate=0.0005", "costs.slippage_bps=2", "window=4")
    backtest = random_policy(random_walk(3), cfg, seed=11)
    curve = backtest.curve
    assert list(curve.columns) == list(CURVE_COLUMNS)
    assert list(backtest.trades.columns) == list(TRADE_COLUMNS)
    assert curve["equity_change"].sum() == pytest.approx(
        curve["equity"].iloc[-1] - curve["equity"].iloc[0]
    )
    assert backtest.trades["costs"].sum() == pytest.approx(curve["costs"].sum())
    assert len(backtest.trades) == np.count_nonzero(curve["trade"])
    assert curve["timestamp"].is_monotonic_increasing and curve["bar"].iloc[0] == 3
    np.testing.assert_allclose(
        curve["position"].iloc[1:], curve["exposure"].iloc[1:] / curve["equity"].iloc[1:]
    )


def test_random_policy_is_seeded(random_walk, exact_config) -> None:
    m, cfg = random_walk(4, n=200), exact_config("costs.fee_rate=0.001")
    a, b = random_policy(m, cfg, seed=5), random_policy(m, cfg, seed=5)
    pd.testing.assert_frame_equal(a.curve, b.curve)
    assert not random_policy(m, cfg, seed=6).curve["equity"].equals(a.curve["equity"])
    runs = run_baselines(m, cfg, ["random_uniform", "flat"], random_runs=3, seed=5)
    pd.testing.assert_frame_equal(runs["random_uniform"][0].curve, a.curve)
    assert len(runs["random_uniform"]) == 3 and len(runs["flat"]) == 1


def test_flat_never_trades_and_a_model_is_driven_deterministically(
    random_walk, exact_config
) -> None:
    m, cfg = random_walk(5, n=50), exact_config("costs.fee_rate=0.001")
    still = flat(m, cfg)
    assert still.trades.empty and (still.curve["equity"] == 1000.0).all()
    model = AlwaysLong()
    agent = backtest_model(model, m, cfg)
    assert set(model.deterministic) == {True}
    pd.testing.assert_series_equal(agent.curve["equity"], buy_and_hold(m, cfg).curve["equity"])


def test_short_fills_are_sells(market, exact_config) -> None:
    curve = rollout(market([100.0, 90.0, 80.0]), exact_config(), lambda obs: 0).curve
    assert curve["units"].iloc[1] == pytest.approx(-10.0)
    assert curve["equity"].iloc[-1] == pytest.approx(1200.0)  # short from 100 to 80


def test_csv_files_round_trip(random_walk, exact_config, tmp_path) -> None:
    backtest = random_policy(random_walk(6, n=60), exact_config(), seed=1)
    trades_path, equity_path = write_backtest(backtest, tmp_path)
    curve = pd.read_csv(equity_path, parse_dates=["timestamp"])
    assert (curve["timestamp"] == backtest.curve["timestamp"]).all()
    np.testing.assert_allclose(curve["equity"], backtest.curve["equity"])
    assert len(pd.read_csv(trades_path)) == len(backtest.trades)


def test_evaluation_pads_baselines_that_stopped(market, exact_config, tmp_path) -> None:
    # A falling market: buy-and-hold hits the 5 % drawdown stop after two bars.
    closes = [100.0, 99.0, 94.0, 90.0, 85.0, 88.0]
    cfg = exact_config("stop.max_drawdown=0.05")
    assert buy_and_hold(market(closes), cfg).terminated
    evaluation = evaluate_model(
        AlwaysLong(), market(closes), exact_config(), split="test", deterministic=True,
        baselines=["buy_and_hold", "flat", "random", "random_uniform"], random_runs=3, seed=0,
        periods_per_year=252, liquidate=False, min_annualised_days=0,
    )  # fmt: skip
    assert len(evaluation.baseline_curves) == len(closes)
    stopped = evaluate_model(
        AlwaysLong(), market(closes), cfg, split="test", deterministic=True,
        baselines=["buy_and_hold"], random_runs=1, seed=0, periods_per_year=252,
        liquidate=False, min_annualised_days=0,
    )  # fmt: skip
    held = stopped.baseline_curves["buy_and_hold"].to_numpy()
    assert len(held) == len(closes) and held[-1] == held[-2] == held[2]
    assert evaluation.metrics == compute_metrics(evaluation.agent.curve, 252)
    write_evaluation(evaluation, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "trades.csv",
        "equity.csv",
        "baselines_equity.csv",
        "metrics.json",
    }


CROSSING = [10.0, 11.0, 12.0, 11.0, 10.0, 9.0, 10.0]


def test_crossover_targets_by_hand() -> None:
    # fast=1 (the last close) against the mean of the last 3 closes, from bar 2 on
    np.testing.assert_array_equal(
        crossover_targets(np.array(CROSSING), 1, 3, short=True), [0, 0, 1, -1, -1, -1, 1]
    )
    np.testing.assert_array_equal(
        crossover_targets(np.array(CROSSING), 1, 3, short=False), [0, 0, 1, 0, 0, 0, 1]
    )
    with pytest.raises(ValueError, match="fast < slow"):
        crossover_targets(np.array(CROSSING), 3, 3, short=True)


def test_crossover_decides_from_the_past_only() -> None:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    base = crossover_targets(close, 5, 20, short=True)
    for t in rng.integers(0, 299, 20):
        changed = close.copy()
        changed[t + 1 :] *= rng.uniform(0.5, 1.5, len(close) - t - 1)
        np.testing.assert_array_equal(
            crossover_targets(changed, 5, 20, short=True)[: t + 1], base[: t + 1]
        )


def test_crossover_equity_by_hand(market, exact_config) -> None:
    # long 83.3 units at bar 3's open (12), short 83.3 at bar 4's open (11), held to the end
    backtest = ma_crossover(market(CROSSING), exact_config(), fast=1, slow=3)
    np.testing.assert_allclose(
        backtest.curve["equity"], [1000, 1000, 1000, 1000 * 11 / 12, 1000, 1000 + 1000 / 12, 1000]
    )
    assert backtest.trades["side"].tolist() == ["buy", "sell"]
    runs = run_baselines(market(CROSSING), exact_config(), ["ma_crossover"], 1, 0, (1, 3))
    pd.testing.assert_frame_equal(runs["ma_crossover"][0].curve, backtest.curve)
    long_only = ma_crossover(market(CROSSING), exact_config("action.type=long_only"), 1, 3)
    assert long_only.curve["units"].min() >= 0  # flat, never short, when the agent cannot short
