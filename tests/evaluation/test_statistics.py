"""Statistics across runs against published worked numbers and hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from qraptor.evaluation.metrics import sharpe_ratio, simple_returns
from qraptor.evaluation.statistics import (
    ReturnMoments,
    bootstrap_ci,
    deflated_sharpe_ratio,
    equity_moments,
    expected_max_sharpe,
    interquartile_mean,
    probabilistic_sharpe_ratio,
    probability_of_improvement,
    return_moments,
    sharpe_ratio_std,
    stratified_mean,
    summarize_runs,
    sweep_significance,
)

BOOT = {"reps": 2000, "confidence": 0.95, "seed": 7}

# -- Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example:
# annualised SR 2.5 over T = 1250 daily bars (250 a year), skewness -3, kurtosis 10,
# N = 100 trials whose annualised Sharpe ratios have variance 1/2.
DAILY_SR = 2.5 / math.sqrt(250)
DAILY_VARIANCE = 0.5 / 250


def test_expected_max_sharpe_of_the_paper() -> None:
    assert expected_max_sharpe(100, DAILY_VARIANCE) == pytest.approx(0.1132, abs=5e-5)


def test_deflated_sharpe_ratio_of_the_paper() -> None:
    assert deflated_sharpe_ratio(DAILY_SR, 1250, -3, 10, 100, DAILY_VARIANCE) == pytest.approx(
        0.9004, abs=5e-5
    )
    # "...a DSR of 0.9505 after only N = 46 trials" and, with normal returns, after N = 88
    assert deflated_sharpe_ratio(DAILY_SR, 1250, -3, 10, 46, DAILY_VARIANCE) == pytest.approx(
        0.9505, abs=5e-5
    )
    assert deflated_sharpe_ratio(DAILY_SR, 1250, 0, 3, 88, DAILY_VARIANCE) == pytest.approx(
        0.9505, abs=5e-5
    )


def test_sharpe_standard_error_of_the_2012_paper() -> None:
    # "The Sharpe Ratio Efficient Frontier", Table: two funds, 134 monthly returns
    assert sharpe_ratio_std(0.7079, 134, -0.2250, 2.9570) == pytest.approx(0.1028, abs=5e-5)
    assert sharpe_ratio_std(0.8183, 134, -1.4455, 7.0497) == pytest.approx(0.1550, abs=5e-5)


def test_probabilistic_sharpe_ratio_by_hand() -> None:
    # SR 0.1 per bar, T = 101, normal: z = 0.1 * 10 / sqrt(1 + 2/4 * 0.01) = 0.997509...
    assert probabilistic_sharpe_ratio(0.1, 101, 0.0, 3.0) == pytest.approx(0.840741, abs=1e-6)
    # against a benchmark equal to the estimate: a coin flip
    assert probabilistic_sharpe_ratio(0.1, 101, -1.0, 6.0, benchmark=0.1) == pytest.approx(0.5)
    # negative skew and fat tails widen the error: less confidence in the same Sharpe
    assert probabilistic_sharpe_ratio(0.1, 101, -2.0, 9.0) < 0.840741


def test_one_trial_is_not_deflated() -> None:
    best = ReturnMoments(0.1, 0.0, 3.0, 101)
    result = sweep_significance(best, [0.1], n_trials=1)
    assert result.expected_max_sharpe == 0.0
    assert result.dsr == result.psr == pytest.approx(0.840741, abs=1e-6)


def test_sweep_counts_every_trial_but_the_variance_of_finished_ones() -> None:
    best = ReturnMoments(DAILY_SR, -3.0, 10.0, 1250)
    sharpes = np.random.default_rng(0).normal(0.0, math.sqrt(DAILY_VARIANCE), 40).tolist()
    finished_only = sweep_significance(best, [*sharpes, DAILY_SR], n_trials=41)
    with_queued_and_failed = sweep_significance(best, [*sharpes, DAILY_SR], n_trials=100)
    variance = np.var([*sharpes, DAILY_SR], ddof=1)
    assert with_queued_and_failed.sharpe_variance == pytest.approx(variance)
    assert with_queued_and_failed.n_finished == 41 and with_queued_and_failed.n_trials == 100
    assert with_queued_and_failed.dsr < finished_only.dsr < finished_only.psr
    assert with_queued_and_failed.dsr == pytest.approx(
        deflated_sharpe_ratio(DAILY_SR, 1250, -3.0, 10.0, 100, variance)
    )
    with pytest.raises(ValueError, match="n_trials"):
        sweep_significance(best, sharpes, n_trials=3)
    assert math.isnan(sweep_significance(best, [DAILY_SR], n_trials=5).dsr)  # no variance yet


def test_return_moments_match_scipy_and_the_metrics_sharpe() -> None:
    rng = np.random.default_rng(3)
    equity = 1000 * np.cumprod(1 + rng.standard_t(4, 500) * 0.01)
    returns = simple_returns(equity)
    moments = equity_moments(equity)
    assert moments.bars == 499
    assert moments.skewness == pytest.approx(stats.skew(returns))
    assert moments.kurtosis == pytest.approx(stats.kurtosis(returns, fisher=False))
    per_year = 252.0
    assert moments.sharpe * math.sqrt(per_year) == pytest.approx(sharpe_ratio(returns, per_year))
    assert return_moments([0.01] * 10) == ReturnMoments(0.0, 0.0, 3.0, 10)


def test_interquartile_mean() -> None:
    assert interquartile_mean([1, 2, 3, 4, 5, 6, 7, 8]) == 4.5  # mean of 3..6
    assert interquartile_mean(list(range(1, 13))) == 6.5  # mean of 4..9
    runs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    lucky = [*runs[:-1], 80.0]  # one broken seed moves the mean, not the IQM
    assert interquartile_mean(lucky) == interquartile_mean(runs)
    assert np.mean(lucky) > 10 * np.mean(runs)
    assert interquartile_mean({"fold0": [1, 2], "fold1": [3, 4]}) == 2.5  # pooled over strata


def test_mean_is_the_mean_of_stratum_means() -> None:
    assert stratified_mean({"a": [1.0, 1.0, 1.0], "b": [4.0]}) == 2.5
    assert stratified_mean([1.0, 2.0, float("nan"), 3.0]) == 2.0  # non-finite runs dropped


def test_bootstrap_resamples_within_strata() -> None:
    # Each fold is constant: resampling seeds within a fold cannot move the mean, while a
    # pooled bootstrap would mix folds and give a wide interval.
    folds = {"fold0": [1.0, 1.0, 1.0, 1.0], "fold1": [3.0, 3.0, 3.0, 3.0]}
    ci = bootstrap_ci(folds, "mean", **BOOT)
    assert (ci.estimate, ci.low, ci.high) == (2.0, 2.0, 2.0)
    pooled = bootstrap_ci([1.0] * 4 + [3.0] * 4, "mean", **BOOT)
    assert pooled.high - pooled.low > 0.5
    matrix = np.array([[1.0, 3.0]] * 4)  # rliable's [runs, tasks]: a stratum per column
    assert bootstrap_ci(matrix, "mean", **BOOT) == ci


def test_bootstrap_intervals_are_reproducible_and_shrink_with_runs() -> None:
    rng = np.random.default_rng(1)
    few, many = rng.normal(1.0, 1.0, 5), rng.normal(1.0, 1.0, 80)
    assert bootstrap_ci(few, "iqm", **BOOT) == bootstrap_ci(few, "iqm", **BOOT)
    narrow, wide = bootstrap_ci(many, "iqm", **BOOT), bootstrap_ci(few, "iqm", **BOOT)
    assert narrow.high - narrow.low < wide.high - wide.low
    summary = summarize_runs({"f0": few, "f1": many}, **BOOT)
    assert summary.runs == 85 and summary.strata == 2
    assert summary.mean.low <= summary.mean.estimate <= summary.mean.high


def test_probability_of_beating_a_baseline() -> None:
    # buy-and-hold is one number per span: 2 of 4 seeds beat 2.5, one ties at 2.5
    p = probability_of_improvement([1.0, 2.5, 3.0, 4.0], [2.5], **BOOT)
    assert p.estimate == pytest.approx((0 + 0.5 + 1 + 1) / 4)
    # per-fold baselines, averaged over folds: fold0 1/2, fold1 1
    folds = probability_of_improvement(
        {"f0": [0.1, 0.3], "f1": [0.5, 0.6]}, {"f0": [0.2], "f1": [0.4]}, **BOOT
    )
    assert folds.estimate == pytest.approx(0.75)
    assert 0.5 <= folds.low <= folds.estimate <= folds.high <= 1.0
    # paired per-run baselines (e.g. the random policy with the same seed)
    paired = probability_of_improvement([1.0, 2.0, 3.0], [0.0, 5.0, 1.0], **BOOT)
    assert paired.estimate == pytest.approx(2 / 3)
    assert probability_of_improvement([1.0, 2.0], [3.0], **BOOT).high == 0.0
    with pytest.raises(ValueError, match="pairs"):
        probability_of_improvement([1.0, 2.0, 3.0], [1.0, 2.0], **BOOT)


@settings(deadline=None, max_examples=60)
@given(
    sharpe=st.floats(0.01, 0.5),
    bars=st.integers(30, 5000),
    skew=st.floats(-2.0, 2.0),
    excess=st.floats(0.0, 20.0),
    n_trials=st.integers(2, 500),
    variance=st.floats(1e-6, 0.05),
)
def test_deflation_properties(sharpe, bars, skew, excess, n_trials, variance) -> None:
    kurtosis = 1.0 + skew**2 + excess  # any real distribution has γ4 >= 1 + γ3²
    psr = probabilistic_sharpe_ratio(sharpe, bars, skew, kurtosis)
    dsr = deflated_sharpe_ratio(sharpe, bars, skew, kurtosis, n_trials, variance)
    more = deflated_sharpe_ratio(sharpe, bars, skew, kurtosis, n_trials * 2, variance)
    assert 0.0 <= more <= dsr <= psr <= 1.0  # more trials, more deflation; never inflation
    assert probabilistic_sharpe_ratio(sharpe * 1.5, bars, 0.0, 3.0) >= probabilistic_sharpe_ratio(
        sharpe, bars, 0.0, 3.0
    )
