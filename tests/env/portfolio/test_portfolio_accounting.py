"""Invariants of the portfolio accounting (issue 16): holding reproduces buy-and-hold, a
cash-to-one-instrument trade costs exactly its fee, the exact remainder factor lies within
its bounds (1 - 2cT and 1 - cT / (1 + c): the often-quoted 1 - cT is first-order only,
hypothesis finds cases above it) and agrees with an independent notional-by-notional
computation, constant rebalanced and buy-and-hold series match a hand computation, weights
sum to 1, instruments that cannot trade keep their value, and batched accounts equal single
ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qraptor.env.portfolio.accounting import drift, remainder_factor, step

N = 5


def _prices(rng: np.random.Generator, bars: int, n: int = N) -> np.ndarray:
    return 100.0 * np.exp(np.cumsum(rng.normal(0, 0.02, (bars, n)), axis=0))


def _simplex(rng: np.random.Generator, n: int) -> np.ndarray:
    w = rng.exponential(size=n) * (rng.random(n) < 0.8)
    w[0] += 1e-3
    return w / w.sum()


def _rates(c: float, n: int = N) -> np.ndarray:
    return np.full(n, c)


def _notional_mu(pre: np.ndarray, target: np.ndarray, sell: np.ndarray, buy: np.ndarray) -> float:
    """mu from first principles, one instrument at a time: the cash left after selling at
    (1 - c_sell) and buying at 1 / (1 - c_buy) must equal mu * target cash; bisection."""

    def cash_gap(mu: float) -> float:
        cash = pre[0]
        for i in range(1, len(pre)):
            change = mu * target[i] - pre[i]  # bought (> 0) or sold (< 0), in value
            cash += -change / (1 - buy[i - 1]) if change > 0 else -change * (1 - sell[i - 1])
        return cash - mu * target[0]

    low, high = 0.0, 1.0
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if cash_gap(mid) > 0 else (low, mid)
    return (low + high) / 2


def test_holding_the_drifted_weights_is_buy_and_hold_and_costs_nothing() -> None:
    rng = np.random.default_rng(1)
    prices = _prices(rng, 300)
    units = np.array([3.0, 1.0, 0.5, 2.0, 7.0])
    cash = 250.0
    value0 = cash + units @ prices[0]
    weights = np.concatenate([[cash], units * prices[0]])[None] / value0
    value = np.array([value0])
    for t in range(len(prices) - 1):
        pre, _ = drift(weights, np.concatenate([[1.0], prices[t + 1] / prices[t]])[None])
        s = step(weights, value, pre, prices[t], prices[t + 1], prices[t + 1],
                 sell_rate=_rates(0.002), buy_rate=_rates(0.003))  # fmt: skip
        assert s.costs[0] == 0.0 and s.mu[0] == 1.0
        weights, value = s.weights, s.value
        assert value[0] == pytest.approx(cash + units @ prices[t + 1], rel=1e-12)


def test_cash_to_one_instrument_costs_exactly_the_fee_of_the_notional() -> None:
    prices = np.full(N, 50.0)
    cash_only = np.zeros((1, N + 1))
    cash_only[0, 0] = 1.0
    all_in = np.zeros((1, N + 1))
    all_in[0, 3] = 1.0
    for c in (0.0, 0.001, 0.01, 0.1):
        s = step(cash_only, np.array([1e6]), all_in, prices, prices, prices,
                 sell_rate=_rates(c), buy_rate=_rates(c))  # fmt: skip
        assert s.costs[0] == pytest.approx(c * 1e6, rel=1e-12, abs=1e-9)
        assert s.traded[0, 3] == pytest.approx((1 - c) * 1e6, rel=1e-12)
        assert s.value[0] == pytest.approx((1 - c) * 1e6, rel=1e-12)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), c=st.floats(0.0, 0.05), n=st.integers(1, 30))
def test_the_exact_remainder_factor_lies_within_its_bounds(seed: int, c: float, n: int) -> None:
    rng = np.random.default_rng(seed)
    pre, target = _simplex(rng, n + 1), _simplex(rng, n + 1)
    mu = remainder_factor(pre[None], target[None], _rates(c, n), _rates(c, n))[0]
    turnover = np.abs(pre[1:] - target[1:]).sum()
    # the quoted upper bound 1 - c T holds to first order only (see accounting.py)
    assert 1 - 2 * c * turnover - 1e-12 <= mu <= 1 - c * turnover / (1 + c) + 1e-12
    assert mu == pytest.approx(_notional_mu(pre, target, _rates(c, n), _rates(c, n)), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_per_instrument_rates_and_shorts_agree_with_the_notional_computation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sell, buy = rng.uniform(0, 0.02, N), rng.uniform(0, 0.02, N)
    pre = np.concatenate([[0.0], rng.normal(0, 0.4, N)])
    pre[0] = 1 - pre[1:].sum()
    target = np.concatenate([[0.0], rng.normal(0, 0.4, N)])
    target[0] = 1 - target[1:].sum()
    mu = remainder_factor(pre[None], target[None], sell, buy)[0]
    assert mu == pytest.approx(_notional_mu(pre, target, sell, buy), abs=1e-12)


def test_constant_rebalanced_and_buy_and_hold_match_a_hand_computation() -> None:
    rng = np.random.default_rng(3)
    prices = _prices(rng, 250)
    relatives = prices[1:] / prices[:-1]
    uniform = np.concatenate([[0.0], np.full(N, 1 / N)])[None]
    crp = bh = uniform
    crp_value = bh_value = np.array([1.0])
    for t in range(len(prices) - 1):
        zero = _rates(0.0)
        a = step(crp, crp_value, uniform, prices[t], prices[t + 1], prices[t + 1],
                 sell_rate=zero, buy_rate=zero)  # fmt: skip
        pre, _ = drift(bh, np.concatenate([[1.0], relatives[t]])[None])
        b = step(bh, bh_value, pre, prices[t], prices[t + 1], prices[t + 1],
                 sell_rate=zero, buy_rate=zero)  # fmt: skip
        crp, crp_value, bh, bh_value = uniform, a.value, b.weights, b.value
    assert crp_value[0] == pytest.approx(np.prod(relatives.mean(axis=1)), rel=1e-12)
    assert bh_value[0] == pytest.approx((prices[-1] / prices[0]).mean(), rel=1e-12)


def test_weights_sum_to_one_and_batched_accounts_equal_single_ones() -> None:
    rng = np.random.default_rng(5)
    prices = _prices(rng, 120)
    batch = 7
    weights = np.tile(np.eye(N + 1)[0], (batch, 1))
    value = np.full(batch, 1e5)
    single = [(weights[b : b + 1].copy(), value[b : b + 1].copy()) for b in range(batch)]
    sell, buy = rng.uniform(0, 0.01, N), rng.uniform(0, 0.01, N)
    for t in range(len(prices) - 1):
        target = np.stack([_simplex(rng, N + 1) for _ in range(batch)])
        args = (prices[t], prices[t + 1] * 1.001, prices[t + 1])
        s = step(weights, value, target, *args, sell_rate=sell, buy_rate=buy, band=0.01)
        for b in range(batch):
            one = step(*single[b], target[b : b + 1], *args, sell_rate=sell, buy_rate=buy,
                       band=0.01)  # fmt: skip
            np.testing.assert_array_equal(one.weights[0], s.weights[b])
            assert one.value[0] == s.value[b] and one.costs[0] == s.costs[b]
            single[b] = (one.weights, one.value)
        np.testing.assert_allclose(s.weights.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        weights, value = s.weights, s.value


def test_an_instrument_that_cannot_trade_keeps_its_value_and_the_rest_rebalances() -> None:
    prices = np.full(N, 10.0)
    weights = np.array([[0.2, 0.2, 0.2, 0.2, 0.1, 0.1]])
    target = np.array([[0.0, 0.0, 0.0, 0.0, 0.5, 0.5]])
    tradable = np.array([True, False, True, True, True])  # instrument 2 has no bar
    s = step(weights, np.array([1000.0]), target, prices, prices, prices,
             sell_rate=_rates(0.0), buy_rate=_rates(0.0), tradable=tradable)  # fmt: skip
    assert s.traded[0, 2] == 0.0 and s.weights[0, 2] == pytest.approx(0.2)
    np.testing.assert_allclose(s.weights[0], [0.0, 0.0, 0.2, 0.0, 0.4, 0.4], atol=1e-15)


def test_a_rebalance_inside_the_no_trade_band_is_not_made() -> None:
    prices = np.full(N, 10.0)
    weights = np.array([[0.5, 0.1, 0.1, 0.1, 0.1, 0.1]])
    near = np.array([[0.49, 0.11, 0.1, 0.1, 0.1, 0.1]])
    s = step(weights, np.array([1.0]), near, prices, prices, prices,
             sell_rate=_rates(0.01), buy_rate=_rates(0.01), band=0.02)  # fmt: skip
    assert s.costs[0] == 0.0 and s.mu[0] == 1.0
    np.testing.assert_allclose(s.weights, weights, rtol=0, atol=1e-15)
