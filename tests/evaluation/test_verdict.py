"""The verdict: each branch of the rule on constructed return series, degenerate inputs, and
how often it claims an edge where there is none (simulation)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from qraptor.evaluation.metrics import compute_metrics, sharpe_ratio
from qraptor.evaluation.verdict import (
    Verdict,
    judge,
    judge_equity,
    judge_stored_curves,
    over_trials,
    sharpe_psr,
)

BARS = 2290  # the learnability span: one-minute bars
PER_YEAR = 98_280.0  # 6.5 h x 252 days of one-minute bars


def noise(seed: int, mean: float = 0.0, std: float = 0.01, bars: int = BARS) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, std, bars)


def verdict(agent: np.ndarray, bench: np.ndarray, **kwargs: object) -> Verdict:
    return judge(agent, bench, split="val", periods_per_year=PER_YEAR, **kwargs)  # type: ignore[arg-type]


def test_an_edge_over_both_zero_and_the_benchmark_is_claimed() -> None:
    v = verdict(noise(1, mean=0.002), noise(2))
    assert v.edge
    assert v.psr >= 0.95 and v.psr_vs_benchmark >= 0.95
    assert v.dsr is None and v.n_trials == 1 and v.pbo is None
    assert v.text.startswith("evidence of an edge over buy-and-hold after costs (PSR ")
    assert f"t {v.t_stat:.1f}" in v.text


def test_the_numbers_are_the_papers_psr_and_the_metrics_sharpe() -> None:
    agent, bench = noise(3, mean=0.0004), noise(4, mean=-0.0002)
    v = verdict(agent, bench)
    excess = agent - bench
    # PSR(0) by hand: Φ(SR √(T-1) / √(1 - γ3 SR + (γ4 - 1)/4 SR²)), per-bar SR, ddof=1
    sr = excess.mean() / excess.std(ddof=1)
    g3, g4 = stats.skew(excess), stats.kurtosis(excess, fisher=False)
    z = sr * math.sqrt(len(excess) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    assert v.psr_vs_benchmark == pytest.approx(stats.norm.cdf(z), rel=1e-12)
    assert v.sharpe == pytest.approx(sharpe_ratio(agent, PER_YEAR), rel=1e-12)
    assert v.t_stat == pytest.approx(agent.mean() / agent.std(ddof=1) * math.sqrt(BARS))


def test_no_edge_when_the_agent_only_matches_the_benchmark() -> None:
    """A strong Sharpe that buy-and-hold had as well (the market rose): no edge over it."""
    market = noise(5, mean=0.002)
    v = verdict(market + noise(6, std=0.0005), market)
    assert v.psr >= 0.95 and v.psr_vs_benchmark < 0.95
    assert not v.edge
    assert v.text.startswith("no evidence of an edge over buy-and-hold after costs (PSR ")
    assert v.text.endswith("): not ahead of buy-and-hold beyond chance")


def test_no_edge_when_beating_a_falling_market_while_losing_nothing_special() -> None:
    """Ahead of buy-and-hold only because the market fell: the agent's own Sharpe is noise."""
    v = verdict(noise(7), noise(8, mean=-0.003))
    assert v.psr_vs_benchmark >= 0.95 and v.psr < 0.95
    assert not v.edge
    assert v.text.endswith("): Sharpe not above 0 beyond chance")


def test_no_edge_when_the_deflated_sharpe_fails_over_many_trials() -> None:
    agent, bench = noise(9, mean=0.0012), noise(10)
    alone = verdict(agent, bench)
    assert alone.edge
    # per-bar Sharpe ~0.12; 1,000 trials whose per-bar Sharpes spread by 0.05 expect ~0.16
    swept = verdict(agent, bench, n_trials=1000, trials_sharpe_variance=0.05**2)
    assert swept.dsr is not None and swept.dsr < 0.95
    assert not swept.edge
    assert f"DSR {swept.dsr:.2f} over 1000 trials" in swept.text
    assert swept.text.endswith("): not above the best of 1000 skill-less trials")
    few = verdict(agent, bench, n_trials=2, trials_sharpe_variance=1e-6)
    assert few.dsr is not None and few.dsr >= 0.95 and few.edge


def test_an_unknown_trial_variance_is_no_edge_and_says_why() -> None:
    v = verdict(noise(9, mean=0.0012), noise(10), n_trials=16)
    assert not v.edge and v.dsr is not None and math.isnan(v.dsr)
    assert "DSR n/a over 16 trials" in v.text
    assert v.text.endswith("DSR unknown over 16 trials (no Sharpe variance)")


def test_a_pbo_at_or_above_one_half_is_no_edge() -> None:
    agent, bench = noise(1, mean=0.002), noise(2)
    assert verdict(agent, bench, pbo=0.2).edge
    for pbo in (0.5, 0.62):
        v = verdict(agent, bench, pbo=pbo)
        assert not v.edge and v.pbo == pbo
        assert f"; PBO {pbo:.2f})" in v.text and v.text.endswith("): likely overfit")


def test_every_failed_condition_is_named() -> None:
    v = verdict(noise(11), noise(12), n_trials=16, trials_sharpe_variance=0.01, pbo=0.7)
    assert not v.edge
    assert v.text.endswith(
        "): not ahead of buy-and-hold beyond chance; Sharpe not above 0 beyond chance; "
        "not above the best of 16 skill-less trials; likely overfit"
    )


def test_an_agent_that_never_trades_gets_a_verdict_that_says_so() -> None:
    v = verdict(np.zeros(BARS), noise(13, mean=-0.003))
    assert v.psr == pytest.approx(0.5) and v.sharpe == 0.0 and v.t_stat == 0.0
    assert not v.edge
    assert "): never held a position; " in v.text


@pytest.mark.parametrize("bars", [0, 1])
def test_fewer_than_two_bars_is_no_verdict(bars: int) -> None:
    v = verdict(np.full(bars, 0.01), np.zeros(bars))
    assert not v.edge and math.isnan(v.psr) and math.isnan(v.sharpe)
    assert v.text.startswith(f"no verdict: {bars} bar")


def test_nan_bars_are_dropped_and_all_nan_is_no_verdict() -> None:
    agent, bench = noise(1, mean=0.002), noise(2)
    holed = agent.copy()
    holed[::10] = np.nan
    bench_holed = bench.copy()
    bench_holed[5::10] = np.inf
    keep = np.isfinite(holed) & np.isfinite(bench_holed)
    v = verdict(holed, bench_holed)
    assert v.psr_vs_benchmark == verdict(agent[keep], bench[keep]).psr_vs_benchmark
    assert verdict(np.full(50, np.nan), bench[:50]).text.startswith("no verdict: 0 bars")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="the same bars"):
        verdict(np.zeros(10), np.zeros(9))
    with pytest.raises(ValueError, match="confidence"):
        verdict(np.zeros(10), np.zeros(10), confidence=1.0)
    with pytest.raises(ValueError, match="n_trials"):
        verdict(np.zeros(10), np.zeros(10), n_trials=0)


def test_to_dict_is_json_without_nan() -> None:
    d = verdict(np.zeros(1), np.zeros(1), n_trials=4).to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["psr"] is None and d["dsr"] is None and d["edge"] is False
    assert set(d) == {
        "split", "benchmark", "edge", "sharpe", "t_stat", "psr", "psr_vs_benchmark",
        "dsr", "n_trials", "pbo", "text",
    }  # fmt: skip


@pytest.mark.parametrize("bench_drift", [0.0, -0.003])
def test_skill_less_agents_are_rarely_said_to_have_an_edge(bench_drift: float) -> None:
    """Zero-mean agents against a flat and a falling benchmark: at most ~5% edges."""
    rng = np.random.default_rng(14)
    sessions = 400
    edges = 0
    for _ in range(sessions):
        agent = rng.standard_t(5, BARS) * 0.01  # heavy tails, no skill
        bench = rng.normal(bench_drift, 0.01, BARS)
        edges += verdict(agent, bench).edge
    # the share is ~Binomial(400, <= 0.05): 0.075 is 2.3 sd above 5%
    assert edges / sessions <= 0.075


def test_judge_equity_pads_a_stopped_agent_and_falls_back_to_cash() -> None:
    rng = np.random.default_rng(15)
    bench = 100 * np.cumprod(1 + rng.normal(0, 0.01, 501))
    agent = 100 * np.cumprod(1 + rng.normal(0, 0.01, 301))  # stopped after 300 bars
    v = judge_equity(agent, {"buy_and_hold": bench}, split="test", periods_per_year=PER_YEAR)
    padded = np.concatenate([agent, np.full(200, agent[-1])])
    expected = judge(
        padded[1:] / padded[:-1] - 1, bench[1:] / bench[:-1] - 1, split="test",
        periods_per_year=PER_YEAR,
    )  # fmt: skip
    assert v == expected
    cash = judge_equity(agent, {"flat": np.full(301, 100.0)}, split="test", periods_per_year=1.0)
    assert cash.benchmark == "flat" and "over flat after costs" in cash.text
    assert cash.psr_vs_benchmark == pytest.approx(cash.psr)


def test_sharpe_psr_from_a_metrics_dict() -> None:
    import pandas as pd

    equity = 1000 * np.cumprod(1 + noise(16, mean=0.001, bars=500))
    curve = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=500, freq="min", tz="UTC"),
            "equity": equity,
            "equity_change": np.r_[0, np.diff(equity)],
            "trade": np.r_[1.0, np.zeros(499)],
            "units": np.ones(500),
            "fill_price": np.ones(500),
            "exposure": equity,
            "costs": np.zeros(500),
        }
    )
    metrics = compute_metrics(curve, PER_YEAR)
    returns = equity[1:] / equity[:-1] - 1
    assert sharpe_psr(metrics) == pytest.approx(verdict(returns, np.zeros(499)).psr, rel=1e-12)
    assert sharpe_psr({"sharpe": 1.0}) is None


@pytest.mark.parametrize("pbo", [None, 0.3])
def test_a_verdict_survives_the_summary_and_the_metrics_file(pbo: float | None) -> None:
    v = verdict(noise(1, mean=0.002), noise(2), n_trials=3, trials_sharpe_variance=1e-4, pbo=pbo)
    assert Verdict.from_dict("val", json.loads(json.dumps(v.to_dict()))) == v
    metrics = json.loads(json.dumps(v.to_metrics()))
    assert "text" not in metrics and metrics["psr_vs_buy_and_hold"] == v.psr_vs_benchmark
    assert Verdict.from_dict("val", metrics) == v  # the text rebuilt from the numbers
    none = verdict(noise(11), noise(12))
    assert Verdict.from_dict("val", none.to_metrics()) == none
    short = verdict(np.zeros(1), np.zeros(1))
    assert not Verdict.from_dict("val", short.to_metrics()).edge
    assert Verdict.from_dict("val", short.to_metrics()).text.startswith("no verdict:")


def test_over_trials_deflates_one_sessions_verdict() -> None:
    alone = verdict(noise(9, mean=0.0012), noise(10))
    assert alone.edge
    swept = over_trials(alone, 1000, dsr=0.4)
    assert not swept.edge and swept.dsr == 0.4 and swept.n_trials == 1000
    assert swept.text.endswith("DSR 0.40 over 1000 trials): not above the best of 1000 "
                               "skill-less trials")  # fmt: skip
    assert over_trials(alone, 1, dsr=0.4) == alone


def test_a_run_stored_before_verdicts_is_judged_from_its_curves() -> None:
    rng = np.random.default_rng(17)
    agent = 100 * np.cumprod(1 + rng.normal(0.002, 0.01, 400))
    bench = 100 * np.cumprod(1 + rng.normal(0.0, 0.01, 400))
    frame = {"agent": agent, "buy_and_hold": bench, "flat": np.full(400, 100.0)}
    v = judge_stored_curves(frame, split="val", sharpe=3.2)
    assert v is not None and v.sharpe == 3.2 and v.benchmark == "buy_and_hold"
    assert (
        v.psr_vs_benchmark
        == judge_equity(
            agent, {"buy_and_hold": bench}, split="val", periods_per_year=1.0
        ).psr_vs_benchmark
    )
    assert judge_stored_curves({"flat": bench}, split="val", sharpe=1.0) is None
