"""End-of-span liquidation: every policy ends a liquidated span in cash, through the env's
own fills and costs; without it the open position stays marked to market (the old figures).
Round trips count their closing bar (hit_rate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qraptor.evaluation.backtest import rollout, rollout_by_bar
from qraptor.evaluation.baselines import buy_and_hold, ma_crossover, run_baselines
from qraptor.evaluation.evaluate import evaluate_model
from qraptor.evaluation.metrics import compute_metrics

LONG, FLAT = 2, 1  # discrete actions {short, flat, long}


class AlwaysLong:
    """A stand-in for an SB3 model: always asks for the long target."""

    def predict(self, obs: np.ndarray, deterministic: bool = True):
        return np.int64(LONG), None


def test_buy_and_hold_pays_entry_and_exit_exactly(market, exact_config) -> None:
    fee, slip, fixed, cash = 0.001, 10 / 1e4, 0.5, 1000.0
    cfg = exact_config("costs.fee_rate=0.001", "costs.slippage_bps=10", "costs.fixed_fee=0.5")
    m = market([100.0, 104.0, 99.0, 107.0, 111.0], open_=[100.0, 101.0, 103.0, 98.0, 108.0])
    held = buy_and_hold(m, cfg, liquidate=True)
    # bought at bar 1's open (101) with 1000 / 101 units, sold at the last bar's open (108)
    ratio = 108.0 / 101.0
    expected = ratio * (1 - slip) * (1 - fee) - (1 + slip) * (1 + fee) - 2 * fixed / cash
    total = compute_metrics(held.curve, 252)["total_return"]
    assert total == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert held.curve["units"].iloc[-1] == 0 and held.curve["equity"].iloc[-1] == pytest.approx(
        held.curve["cash"].iloc[-1]
    )
    assert held.trades["side"].tolist() == ["buy", "sell"]
    exit_fill = held.trades.iloc[-1]
    assert exit_fill["fill_price"] == 108.0 and exit_fill["bar"] == 4
    units = cash / 101.0
    assert exit_fill["costs"] == pytest.approx(
        fee * units * 108 * (1 - slip) + fixed + units * 108 * slip
    )
    # without liquidation the position is marked at the last close (111) and never exits
    marked = buy_and_hold(m, cfg)
    assert marked.trades["side"].tolist() == ["buy"]
    assert marked.curve["equity"].iloc[-1] == pytest.approx(
        cash - units * 101 * (1 + slip) * (1 + fee) - fixed + units * 111
    )


def test_liquidation_changes_only_the_last_bar(random_walk, exact_config) -> None:
    cfg = exact_config("costs.fee_rate=0.0005", "costs.slippage_bps=2", "window=4")
    m = random_walk(8, n=120)
    fast, slow = 5, 20
    marked, closed = (ma_crossover(m, cfg, fast, slow, liquidate=flag) for flag in (False, True))
    pd.testing.assert_frame_equal(marked.curve.iloc[:-1], closed.curve.iloc[:-1])
    last = closed.curve.iloc[-1]
    assert last["units"] == 0 and last["equity"] == pytest.approx(last["cash"])
    assert last["trade"] == pytest.approx(-marked.curve["units"].iloc[-2]) and last["costs"] > 0
    assert closed.trades["bar"].iloc[-1] == len(m) - 1
    assert closed.trades["units"].iloc[-1] == 0


def test_an_agent_left_long_pays_its_exit_in_the_files(random_walk, exact_config, tmp_path) -> None:
    cfg = exact_config("costs.fee_rate=0.001", "costs.slippage_bps=5")
    m = random_walk(9, n=80)
    kwargs = dict(split="test", deterministic=True, baselines=["buy_and_hold", "random"],
                  random_runs=2, seed=0, periods_per_year=252, min_annualised_days=0)  # fmt: skip
    closed = evaluate_model(AlwaysLong(), m, cfg, liquidate=True, **kwargs)
    marked = evaluate_model(AlwaysLong(), m, cfg, liquidate=False, **kwargs)
    exit_fill = closed.agent.trades.iloc[-1]
    assert exit_fill["side"] == "sell" and exit_fill["bar"] == len(m) - 1 and exit_fill["costs"] > 0
    assert exit_fill["units"] == 0 and exit_fill["equity"] == pytest.approx(exit_fill["cash"])
    assert closed.metrics["n_trades"] == marked.metrics["n_trades"] + 1 == 2
    assert closed.metrics["costs_paid"] > marked.metrics["costs_paid"]
    # the agent is buy-and-hold here: the same liquidated figures for both
    assert closed.baselines["buy_and_hold"]["final_equity"] == closed.metrics["final_equity"]
    assert marked.baselines["buy_and_hold"]["final_equity"] == marked.metrics["final_equity"]
    # liquidate=false: the old mark-to-market figures (no exit, marked at the last close)
    plain = rollout(m, cfg, lambda obs: LONG)
    assert marked.metrics == compute_metrics(plain.curve, 252)
    from qraptor.evaluation.evaluate import write_evaluation

    write_evaluation(closed, tmp_path)
    trades = pd.read_csv(tmp_path / "trades.csv")
    equity = pd.read_csv(tmp_path / "equity.csv")
    assert trades["side"].iloc[-1] == "sell" and equity["units"].iloc[-1] == 0
    assert equity["costs"].iloc[-1] == pytest.approx(exit_fill["costs"])


def test_a_stopped_run_exits_at_the_next_fill(market, exact_config) -> None:
    closes = [100.0, 99.0, 94.0, 90.0, 85.0, 88.0]
    cfg = exact_config("stop.max_drawdown=0.05", "costs.fee_rate=0.001")
    marked = buy_and_hold(market(closes), cfg)
    closed = buy_and_hold(market(closes), cfg, liquidate=True)
    assert marked.terminated and closed.terminated
    assert len(closed.curve) == len(marked.curve) + 1  # the stop's exit, one bar later
    exit_bar = closed.curve.iloc[-1]
    assert exit_bar["units"] == 0 and exit_bar["fill_price"] == closes[len(marked.curve) - 1]
    kwargs = dict(split="test", deterministic=True, baselines=["buy_and_hold"], random_runs=1,
                  seed=0, periods_per_year=252, liquidate=True, min_annualised_days=0)  # fmt: skip
    evaluation = evaluate_model(AlwaysLong(), market(closes), cfg, **kwargs)
    held = evaluation.baseline_curves["buy_and_hold"].to_numpy()
    assert len(held) == len(closes) and held[-1] == exit_bar["equity"]


def test_a_small_held_target_is_closed_despite_min_trade(market, exact_config) -> None:
    # continuous targets 0.5 then 0.1 (|0.1 - 0.5| > 0.3 trades); 0.1 -> 0 is within
    # min_trade, which a policy could never close: the liquidation does.
    cfg = exact_config("action.type=continuous", "limits.min_trade=0.3")
    targets = [0.5, 0.1, 0.1, 0.1, 0.1]
    m = market([100.0, 101.0, 102.0, 103.0, 104.0, 105.0])
    closed = rollout_by_bar(m, cfg, lambda bar: np.array([targets[bar]]), liquidate=True)
    assert closed.curve["units"].iloc[-2] != 0 and closed.curve["units"].iloc[-1] == 0
    np.testing.assert_allclose(closed.targets, [0.5, 0.1, 0.1, 0.1])  # the policy's own


def test_a_round_trip_that_loses_five_percent_is_a_loss(market, exact_config) -> None:
    # long at 100 (bar 1's open), marked 105 at its close (+5 %), sold at 95 (bar 2's open):
    # -5 % round trip. Leaving out the closing bar scored it a win.
    m = market([100.0, 105.0, 96.0, 96.0], open_=[100.0, 100.0, 95.0, 96.0])
    decisions = [LONG, FLAT, FLAT]
    backtest = rollout_by_bar(m, exact_config(), lambda bar: decisions[bar])
    metrics = compute_metrics(backtest.curve, 252)
    assert metrics["total_return"] == pytest.approx(-0.05)
    assert metrics["hit_rate"] == 0.0 and metrics["avg_holding_bars"] == 2


def test_exit_costs_that_turn_a_winner_into_a_loser_make_a_loss(market, exact_config) -> None:
    # 1 % fee: buy 10 at 100 (fee 10), close 102 (+20); sell at 101.5 (fee 10.15):
    # +15 gross, -5.15 net. The old rule saw only the first bar: +10.
    m = market([100.0, 102.0, 101.0, 101.0], open_=[100.0, 100.0, 101.5, 101.0])
    decisions = [LONG, FLAT, FLAT]
    cfg = exact_config("costs.fee_rate=0.01")
    backtest = rollout_by_bar(m, cfg, lambda bar: decisions[bar])
    assert backtest.curve["equity"].iloc[-1] == pytest.approx(1000 - 5.15)
    assert compute_metrics(backtest.curve, 252)["hit_rate"] == 0.0


def test_the_last_open_period_counts_as_marked_without_liquidation(market, exact_config) -> None:
    m = market([100.0, 105.0, 96.0, 99.0], open_=[100.0, 100.0, 95.0, 96.0])
    marked = rollout(m, exact_config(), lambda obs: LONG)  # 10 units, 100 -> 99: a loss
    assert compute_metrics(marked.curve, 252)["hit_rate"] == 0.0
    closed = rollout(m, exact_config(), lambda obs: LONG, liquidate=True)  # sold at 96
    assert compute_metrics(closed.curve, 252)["total_return"] == pytest.approx(-0.04)
    runs = run_baselines(m, exact_config(), ["flat"], 1, 0, liquidate=True)
    assert runs["flat"][0].trades.empty


def test_levels_without_a_flat_one_are_still_closed_out(random_walk, exact_config) -> None:
    cfg = exact_config("action.type=levels", "action.levels=[-1.0,-0.5,0.5,1.0]")
    closed = rollout(random_walk(10, n=40), cfg, lambda obs: 3, liquidate=True)  # long 1.0
    assert closed.curve["units"].iloc[-1] == 0 and closed.trades["side"].iloc[-1] == "sell"
    assert set(closed.targets) == {1.0}
