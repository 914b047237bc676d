"""Accounting against hand-computed cases (small numbers, expected values worked out here).

Every case drives a TradingEnv with window 1 and a full episode, so the decision at bar t
fills at bar t+1's open (unless stated) and is marked at bar t+1's close. Initial cash
1000; discrete actions 0 = short, 1 = flat, 2 = long.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qraptor.env import TradingEnv

SHORT, FLAT, LONG = 0, 1, 2
INFO_KEYS = {
    "timestamp",
    "fill_price",
    "exec_price",
    "units",
    "exposure",
    "trade",
    "costs",
    "cash",
    "equity",
    "equity_change",
}


def run(env: TradingEnv, actions: list) -> list[tuple]:
    env.reset(seed=0)
    return [env.step(a) for a in actions]


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12, abs=1e-9)


def test_long_round_trip_with_fees(make_bars, exact_config) -> None:
    cfg = exact_config("costs.fee_rate=0.001", "costs.fixed_fee=1.0")
    market = make_bars(close=[100, 110, 125], open_=[100, 100, 120])
    (_, r1, te1, tr1, i1), (_, r2, te2, tr2, i2) = run(TradingEnv(market, cfg), [LONG, FLAT])
    # Buy at open 100: units = 1000 / 100 = 10; fee = 0.001 * 10 * 100 + 1 = 2.
    assert set(i1) == INFO_KEYS
    assert i1["timestamp"] == int(market.timestamps[1])
    assert (i1["fill_price"], i1["exec_price"]) == (100.0, 100.0)
    assert i1["trade"] == approx(10.0) and i1["units"] == approx(10.0)
    assert i1["costs"] == approx(2.0)
    assert i1["cash"] == approx(1000 - 10 * 100 - 2)  # -2
    assert i1["exposure"] == approx(10 * 110)
    assert i1["equity"] == approx(-2 + 10 * 110)  # 1098, marked at the close 110
    assert i1["equity_change"] == approx(98.0)
    assert r1 == approx(math.log(1098 / 1000))
    # Sell 10 at open 120: fee = 0.001 * 10 * 120 + 1 = 2.2; flat afterwards.
    assert i2["trade"] == approx(-10.0) and i2["units"] == 0.0
    assert i2["costs"] == approx(2.2)
    assert i2["cash"] == approx(-2 + 10 * 120 - 2.2)  # 1195.8
    assert i2["equity"] == approx(1195.8)
    assert i2["equity_change"] == approx(1195.8 - 1098)
    assert r2 == approx(math.log(1195.8 / 1098))
    assert i1["equity_change"] + i2["equity_change"] == approx(1195.8 - 1000)
    assert (te1, tr1, te2, tr2) == (False, False, False, True)  # the span ends at bar 2


def test_short_through_a_rising_price(make_bars, exact_config) -> None:
    market = make_bars(close=[100, 105, 110], open_=[100, 100, 108])
    env = TradingEnv(market, exact_config())
    (o1, _, _, _, i1), (o2, r2, _, _, i2) = run(env, [SHORT, SHORT])
    # Short 10 at 100: cash 1000 + 1000 = 2000.
    assert i1["units"] == approx(-10.0) and i1["cash"] == approx(2000.0)
    assert i1["equity"] == approx(2000 - 10 * 105)  # 950
    # Holding the short: no trade, no cost; the loss grows with the price.
    assert i2["trade"] == 0.0 and i2["costs"] == 0.0
    assert i2["fill_price"] == 108.0
    assert i2["equity"] == approx(2000 - 10 * 110)  # 900
    assert r2 == approx(math.log(900 / 950))
    # Observation row of bar 2: feature, position, unrealised PnL, time in position.
    position, unrealised, time_in = o2[-1, 1:]
    assert position == pytest.approx(-1100 / 900, rel=1e-6)
    assert unrealised == pytest.approx(-10 * (110 - 100) / 900, rel=1e-6)
    assert time_in == 1.0  # one bar since the entry, / window 1
    assert o1[-1, 3] == 0.0  # the entry bar itself


@pytest.mark.parametrize("execution", ["open", "vwap", "close"])
def test_slippage_on_entry_and_exit(make_bars, exact_config, execution) -> None:
    cfg = exact_config(
        f"execution.price={execution}",
        "costs.slippage_bps=10",
        "costs.slippage_range_fraction=0.1",
        "costs.fee_rate=0.001",
    )
    # The fill price is the same in every column of bars 1 and 2, so all three modes agree.
    market = make_bars(
        close=[100, 100, 110, 110],
        open_=[100, 100, 110, 110],
        vwap=[100, 100, 110, 110],
        high=[100, 102, 111, 110],
        low=[100, 98, 109, 110],
    )
    (_, _, _, _, i1), (_, _, _, _, i2) = run(TradingEnv(market, cfg), [LONG, FLAT])
    # Entry: slippage 10 bp + 0.1 * (102 - 98) / 100 = 0.005; pays 100.5 for 10 units.
    assert i1["exec_price"] == approx(100.5)
    assert i1["units"] == approx(10.0)  # sized at the fill price, before slippage
    fee1 = 0.001 * 10 * 100.5
    assert i1["costs"] == approx(fee1 + 10 * 100 * 0.005)
    assert i1["cash"] == approx(1000 - 10 * 100.5 - fee1)
    # Exit: slippage 0.001 + 0.1 * (111 - 109) / 110; receives less than 110.
    slip = 0.001 + 0.1 * 2 / 110
    exit_price = 110 * (1 - slip)
    fee2 = 0.001 * 10 * exit_price
    assert i2["exec_price"] == approx(exit_price)
    assert i2["costs"] == approx(fee2 + 10 * 110 * slip)
    assert i2["cash"] == approx(1000 - 10 * 100.5 - fee1 + 10 * exit_price - fee2)
    assert i2["equity"] == approx(i2["cash"])
    # The round trip's PnL is the price move minus both legs' costs.
    assert i2["equity"] == approx(1000 + 10 * (110 - 100) - i1["costs"] - i2["costs"])


def test_position_limit_and_leverage(make_bars, exact_config) -> None:
    market = make_bars(close=[100, 100, 100, 100], open_=[100, 100, 100, 100])
    capped = TradingEnv(market, exact_config("limits.max_units=4"))
    (_, _, _, _, i1), (_, _, _, _, i2), (_, _, _, _, i3) = run(capped, [LONG, SHORT, LONG])
    assert i1["units"] == 4.0 and i1["cash"] == approx(600.0)  # wanted 10, capped at 4
    assert i2["trade"] == -8.0 and i2["units"] == -4.0  # to the short cap
    assert i2["cash"] == approx(1400.0)
    assert i3["trade"] == 8.0 and i3["equity"] == approx(1000.0)

    levered = TradingEnv(market, exact_config("limits.max_leverage=2.5"))
    (_, _, _, _, j1), (_, _, _, _, j2) = run(levered, [LONG, SHORT])
    assert j1["units"] == approx(25.0) and j1["cash"] == approx(-1500.0)
    assert j2["units"] == approx(-25.0) and j2["cash"] == approx(3500.0)


def test_ruin_terminates(make_bars, exact_config) -> None:
    market = make_bars(close=[100, 60, 40, 40], open_=[100, 100, 60, 40])
    env = TradingEnv(market, exact_config("stop.ruin_fraction=0.5"))
    (_, _, te1, _, i1), (_, r2, te2, tr2, i2) = run(env, [LONG, LONG])
    assert not te1 and i1["equity"] == approx(600.0)
    assert te2 and not tr2 and i2["equity"] == approx(400.0)  # <= 0.5 * 1000
    assert r2 == approx(math.log(400 / 600))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(FLAT)


def test_no_trade_with_nonpositive_equity(make_bars, exact_config) -> None:
    # Short 10 at 100; the close of bar 1 leaves equity 500, then bar 2 gaps to 210:
    # equity at that fill is 2000 - 2100 < 0, so the exit is refused; marked at 200 -> 0.
    market = make_bars(close=[100, 150, 200, 200], open_=[100, 100, 210, 200])
    env = TradingEnv(market, exact_config())
    (_, _, te1, _, i1), (_, r2, te2, _, i2) = run(env, [SHORT, FLAT])
    assert not te1 and i1["equity"] == approx(500.0)
    assert i2["trade"] == 0.0 and i2["units"] == -10.0 and i2["costs"] == 0.0
    assert i2["equity"] == approx(0.0) and te2
    assert i2["equity_change"] == approx(-500.0)
    assert r2 == approx(math.log(1e-9 * 1000 / 500))  # floored: a large, finite penalty


@pytest.mark.parametrize("reward", ["log_return", "drawdown_penalty"])
def test_max_drawdown_stop(make_bars, exact_config, reward) -> None:
    cfg = exact_config(
        "stop.max_drawdown=0.2", f"reward.type={reward}", "reward.drawdown_penalty=2"
    )
    market = make_bars(close=[100, 110, 95, 85, 85], open_=[100, 100, 110, 95, 85])
    steps = run(TradingEnv(market, cfg), [LONG, LONG, LONG])
    equities = [s[4]["equity"] for s in steps]
    assert equities == [approx(1100), approx(950), approx(850)]
    assert [s[2] for s in steps] == [False, False, True]  # drawdowns 0, 0.136, 0.227
    drawdowns = [0.0, 1 - 950 / 1100, 1 - 850 / 1100]
    expected = [math.log(1100 / 1000), math.log(950 / 1100), math.log(850 / 950)]
    if reward == "drawdown_penalty":
        increases = [max(d - p, 0.0) for d, p in zip(drawdowns, [0, *drawdowns[:-1]], strict=True)]
        expected = [e - 2 * x for e, x in zip(expected, increases, strict=True)]
    assert [s[1] for s in steps] == [approx(e) for e in expected]


def test_differential_sharpe_ratio_by_hand(make_bars, exact_config) -> None:
    eta = 0.1
    cfg = exact_config("reward.type=differential_sharpe", f"reward.sharpe_eta={eta}")
    closes = [100, 101, 99, 102, 104]
    market = make_bars(close=closes, open_=[100, 100, 101, 99, 102])
    steps = run(TradingEnv(market, cfg), [LONG, LONG, LONG, LONG])
    a = b = 0.0
    equity = 1000.0
    for k, (_, reward, _, _, info) in enumerate(steps):
        ret = info["equity"] / equity - 1
        variance = b - a * a
        expected = 0.0
        if variance > 1e-20:
            expected = (b * (ret - a) - 0.5 * a * (ret * ret - b)) / variance**1.5
        assert reward == approx(expected), k
        a, b = a + eta * (ret - a), b + eta * (ret * ret - b)
        equity = info["equity"]
    assert steps[0][1] == 0.0  # no variance yet
    assert steps[2][1] != 0.0


def test_continuous_targets_and_min_trade(make_bars, exact_config) -> None:
    cfg = exact_config("action.type=continuous", "limits.min_trade=0.1")
    market = make_bars(close=[100] * 6, open_=[100] * 6)
    steps = run(TradingEnv(market, cfg), [[0.5], [0.55], [0.3], [1.7], [np.nan]])
    units = [s[4]["units"] for s in steps]
    assert units == [approx(5.0), approx(5.0), approx(3.0), approx(10.0), approx(10.0)]
    assert [s[4]["trade"] != 0.0 for s in steps] == [True, False, True, True, False]


def test_holding_lets_the_position_drift(make_bars, exact_config) -> None:
    # Same target twice: no rebalancing trade, so exposure follows the price.
    market = make_bars(close=[100, 200, 50], open_=[100, 100, 200])
    cfg = exact_config("action.type=levels", "action.levels=[0.0,0.5]")
    (_, _, _, _, i1), (o2, _, _, _, i2) = run(TradingEnv(market, cfg), [1, 1])
    assert i1["units"] == approx(5.0) and i2["trade"] == 0.0
    assert i2["exposure"] == approx(5 * 50)
    assert o2[-1, 1] == pytest.approx(250 / (500 + 250), rel=1e-6)  # position / equity
    assert o2[-1, 2] == pytest.approx(5 * (50 - 100) / 750, rel=1e-6)  # entry at 100
