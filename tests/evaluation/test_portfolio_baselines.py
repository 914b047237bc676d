"""Portfolio baselines and diagnostics (issue 16): at zero costs the 1/N baseline's equity is
a direct pandas computation of the 1/N portfolio to 1e-9, buy-and-hold is the average of the
price relatives, momentum picks from past returns only; with costs every baseline pays them
through the same accounting; the diagnostics read what the weights did."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qraptor.env.portfolio.config import load_portfolio_env_config
from qraptor.env.portfolio.panel import Panel
from qraptor.evaluation.portfolio import baselines, diagnostics, momentum_top_k, rollout

BARS, N, WINDOW = 400, 6, 10


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    stamps = pd.date_range("2001-01-01", periods=BARS, freq="B", tz="UTC")
    values = 30 * np.exp(np.cumsum(rng.normal(2e-4, 0.02, (BARS, N)), axis=0))
    return pd.DataFrame(values, index=stamps, columns=[f"S{j}" for j in range(N)])


def _panel(prices: pd.DataFrame) -> Panel:
    frames = {s: pd.DataFrame({"timestamp": prices.index, "close": prices[s].to_numpy(),
                               "f": 0.0}) for s in prices}  # fmt: skip
    return Panel.from_frames(frames, features=["f"])


def _cfg(*overrides: str):
    return load_portfolio_env_config([f"window={WINDOW}", *overrides])


def test_one_over_n_at_zero_costs_is_the_direct_pandas_portfolio(prices) -> None:
    runs = baselines(_panel(prices), _cfg("costs.fee_rate=0", "costs.slippage_bps=0"))
    # decided at the first decision bar (WINDOW - 1), bought at the next bar's close: the
    # portfolio earns from the bar after that
    bought = prices.iloc[WINDOW:]
    direct = (bought / bought.shift(1)).mean(axis=1).fillna(1.0).cumprod() * 100_000.0
    equity = runs["equal_weight"].curve.set_index("timestamp")["equity"]
    assert equity.iloc[0] == 100_000.0 and len(equity) == len(direct) + 1
    np.testing.assert_allclose(equity.iloc[1:].to_numpy(), direct.to_numpy(), rtol=1e-9)
    held = runs["buy_and_hold"].curve["equity"].to_numpy()[1:]
    by_hand = (bought / bought.iloc[0]).mean(axis=1).to_numpy() * 100_000.0
    np.testing.assert_allclose(held, by_hand, rtol=1e-9)


def test_costs_are_paid_by_every_baseline_and_buy_and_hold_pays_once(prices) -> None:
    runs = baselines(_panel(prices), _cfg("costs.fee_rate=0.002"), k=2, lookback=20)
    assert runs["buy_and_hold"].curve["costs"].gt(0).sum() == 1  # the first purchase only
    assert runs["equal_weight"].curve["costs"].gt(0).sum() > BARS / 2  # rebalancing drift
    assert runs["momentum_top_k"].curve["costs"].sum() > runs["equal_weight"].curve["costs"].sum()
    d = diagnostics(runs["momentum_top_k"])
    assert d["hhi"] == pytest.approx(0.5, abs=0.05)  # two names at 1/2
    assert d["cost_log_return"] < 0
    assert d["log_return"] == pytest.approx(d["market_log_return"] + d["cost_log_return"])
    eq = diagnostics(runs["equal_weight"])
    assert eq["hhi"] == pytest.approx(1 / N, rel=0.05) and eq["share_at_bounds"] == 0.0


def test_momentum_decides_from_past_returns_only(prices) -> None:
    panel = _panel(prices)
    rule = momentum_top_k(panel, 2, 20)
    changed = prices.copy()
    changed.iloc[201:] *= 3.0 * np.arange(1, N + 1)  # a future that would change the ranks
    later = momentum_top_k(_panel(changed), 2, 20)
    for bar in range(20, 201):
        np.testing.assert_array_equal(rule(bar, None), later(bar, None))


def test_a_rollout_of_a_rule_is_the_env_accounting(prices) -> None:
    panel, cfg = _panel(prices), _cfg("costs.fee_rate=0.001")
    target = np.zeros(N + 1)
    target[1] = 1.0
    run = rollout(panel, cfg, lambda bar, w: target)
    assert run.curve["costs"].iloc[1] == pytest.approx(0.0015 * 100_000.0, rel=1e-12)
    np.testing.assert_allclose(run.weights.iloc[1:, 2].to_numpy(), 1.0)


def test_the_optimisers_fit_on_the_past_only_and_hold_between_refits(prices) -> None:
    from qraptor.evaluation.portfolio import optimised

    changed = prices.copy()
    changed.iloc[251:] *= np.exp(np.random.default_rng(9).normal(0, 0.3, (BARS - 251, N)))
    for objective in ("min_variance", "max_sharpe"):
        rule, later = (optimised(_panel(p), objective, 120, 20) for p in (prices, changed))
        decided = [(bar, rule(bar, None)) for bar in range(120, 251)]
        again = [(bar, later(bar, None)) for bar in range(120, 251)]
        fits = [(bar, w) for bar, w in decided if w is not None]
        assert [bar for bar, _ in fits] == list(range(120, 251, 20))  # refits, held between
        for (_, w), (_, v) in zip(decided, again, strict=True):
            assert (w is None and v is None) or np.array_equal(w, v)
        assert all(abs(w.sum() - 1) < 1e-12 and (w >= 0).all() for _, w in fits)


def test_min_variance_is_less_volatile_than_one_over_n() -> None:
    rng = np.random.default_rng(8)
    vols = np.linspace(0.004, 0.04, N)  # unequal risks: what minimum variance is for
    values = 30 * np.exp(np.cumsum(rng.normal(0, 1, (BARS, N)) * vols, axis=0))
    stamps = pd.date_range("2001-01-01", periods=BARS, freq="B", tz="UTC")
    prices = pd.DataFrame(values, index=stamps, columns=[f"S{j}" for j in range(N)])
    runs = baselines(_panel(prices), _cfg(), lookback=120, optimiser_every=20)
    vol = {k: r.curve["log_return"].iloc[150:].std() for k, r in runs.items()}
    assert vol["min_variance"] < vol["equal_weight"]


def test_versus_tells_one_over_n_from_itself_and_from_momentum(prices) -> None:
    from qraptor.evaluation.portfolio import versus

    runs = baselines(_panel(prices), _cfg(), k=1, lookback=20, optimiser_every=None)
    same = versus(runs["equal_weight"], runs["equal_weight"], "equal_weight",
                  periods_per_year=252)  # fmt: skip
    assert same["weight_distance"] == 0.0 and same["return_correlation"] == pytest.approx(1.0)
    other = versus(runs["momentum_top_k"], runs["equal_weight"], "equal_weight",
                   periods_per_year=252)  # fmt: skip
    assert other["weight_distance"] > 0.5  # one name held, not six at 1/6
    assert 0.0 <= other["psr_vs_baseline"] <= 1.0
    assert other["indistinguishable"] == (0.05 <= other["psr_vs_baseline"] <= 0.95)


def test_the_index_is_held_through_a_missing_bar_not_sold_and_bought_back(prices) -> None:
    from qraptor.evaluation.portfolio import index_holding

    index = pd.DataFrame({"timestamp": prices.index, "close": prices["S0"].to_numpy()})
    index = index.drop(index=[150, BARS - 1])  # a holiday, and no bar on the last day
    panel = Panel.from_frames({"IDX": index}, calendar=prices.index.as_unit("ns").asi8)
    assert panel.exit_bar[0] == BARS - 1  # on its own calendar: the last bar is missing
    run = rollout(panel, _cfg(), index_holding(panel, "IDX"))
    assert run.curve["trades"].sum() == 2  # bought once; sold only because it "stops"
    assert run.curve["costs"].iloc[1:-1].gt(0).sum() == 1  # the missing bar cost nothing
    held = run.weights["IDX"].to_numpy()[1:-1]
    assert (held > 0.999).all()


def test_liquidation_ends_in_cash_even_inside_the_no_trade_band(prices) -> None:
    panel = _panel(prices)
    half, small = np.zeros(N + 1), np.zeros(N + 1)
    half[0], half[1] = 0.5, 0.5
    small[0], small[1] = 0.97, 0.03  # then down to a position smaller than the band

    def rule(bar: int, _: np.ndarray) -> np.ndarray:
        return half if bar == WINDOW - 1 else small

    cfg = _cfg("weights.band=0.2")
    run = rollout(panel, cfg, rule, liquidate=True)
    weights = run.weights.drop(columns="timestamp").to_numpy()
    assert 0.0 < weights[-2, 1] < 0.2  # held inside the band until the last step
    assert weights[-1, 0] == pytest.approx(1.0, abs=1e-12)
    assert run.curve["costs"].iloc[-1] > 0  # the sale paid its costs


def test_look_back_baselines_read_the_bars_before_the_span(prices) -> None:
    from qraptor.evaluation.portfolio import optimised

    full, cut = _panel(prices), 200
    span, before = full.span(cut, BARS), full.span(cut - 60, cut)
    rule, whole = momentum_top_k(span, 2, 20, before), momentum_top_k(full, 2, 20)
    for bar in range(0, 40):  # from the span's first bar: the same picks as with all bars
        np.testing.assert_array_equal(rule(bar, None), whole(bar + cut, None))
    assert momentum_top_k(span, 2, 20)(0, None)[0] == 1.0  # without history: cash at first
    fitted = optimised(span, "min_variance", 50, 20, before)(0, None)
    assert fitted is not None and fitted[0] == 0.0 and fitted.sum() == pytest.approx(1.0)
