"""PBO by CSCV and the minimum track record length: what a study's report rests on."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qraptor.evaluation.statistics import (
    minimum_track_record_length,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    return_moments,
)


def _brute_force_logits(m: np.ndarray, n_blocks: int) -> np.ndarray:
    """CSCV written out as in the paper, one combination at a time, with pandas."""
    frame = pd.DataFrame(m)
    blocks = np.array_split(np.arange(len(frame)), n_blocks)
    logits = []
    for chosen in itertools.combinations(range(n_blocks), n_blocks // 2):
        inside = np.concatenate([blocks[b] for b in chosen])
        outside = np.concatenate([blocks[b] for b in range(n_blocks) if b not in chosen])
        is_sharpe = frame.iloc[inside].mean() / frame.iloc[inside].std()
        oos_sharpe = frame.iloc[outside].mean() / frame.iloc[outside].std()
        best = int(np.argmax(is_sharpe.to_numpy()))
        omega = stats.rankdata(oos_sharpe.to_numpy())[best] / (m.shape[1] + 1)
        logits.append(math.log(omega / (1 - omega)))
    return np.array(logits)


def test_cscv_matches_the_paper_written_out() -> None:
    m = np.random.default_rng(3).normal(0.0, 0.01, size=(61, 5))  # 61 bars: unequal blocks
    result = probability_of_backtest_overfitting(m, n_blocks=6)
    expected = _brute_force_logits(m, 6)
    assert result.n_combinations == math.comb(6, 3) == len(expected)
    np.testing.assert_allclose(result.logits, expected, rtol=1e-9)
    assert result.pbo == pytest.approx(np.mean(expected <= 0))


def test_skill_less_trials_overfit_half_the_time() -> None:
    rng = np.random.default_rng(1)
    pbos = [
        probability_of_backtest_overfitting(rng.normal(size=(800, 10)), n_blocks=10).pbo
        for _ in range(40)
    ]
    assert 0.4 < np.mean(pbos) < 0.6, np.mean(pbos)


def test_three_skill_less_seeds_are_not_low() -> None:
    # With 3 trials the IS best lands at OOS rank 1, 2 or 3: 2 of them count as overfit.
    rng = np.random.default_rng(2)
    pbos = [probability_of_backtest_overfitting(rng.normal(size=(600, 3))).pbo for _ in range(20)]
    assert np.mean(pbos) > 0.55, np.mean(pbos)


def test_one_real_edge_among_noise_is_not_overfitting() -> None:
    rng = np.random.default_rng(4)
    m = rng.normal(0.0, 0.01, size=(3000, 30))
    m[:, 17] += 0.0015  # a per-bar Sharpe of 0.15 in one trial
    result = probability_of_backtest_overfitting(pd.DataFrame(m))
    assert result.n_combinations == math.comb(16, 8) == 12_870
    assert result.pbo < 0.02
    assert result.prob_oos_loss < 0.02
    assert np.median(result.oos_performance) > 0.1


def test_noise_selected_in_sample_degrades_out_of_sample() -> None:
    result = probability_of_backtest_overfitting(
        np.random.default_rng(5).normal(size=(1600, 20)), n_blocks=8
    )
    # The IS best's OOS Sharpe is no better than a random trial's: its mean is near 0 and
    # loses money in about half the combinations.
    assert abs(float(np.mean(result.oos_performance))) < 0.05
    assert 0.2 < result.prob_oos_loss < 0.8
    assert result.degradation_slope < 0.5
    assert set(result.to_dict()) >= {"pbo", "degradation_slope", "prob_oos_loss", "n_trials"}


def test_pbo_refuses_what_it_cannot_judge() -> None:
    with pytest.raises(ValueError, match="at least 2 columns"):
        probability_of_backtest_overfitting(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="even"):
        probability_of_backtest_overfitting(np.zeros((100, 3)), n_blocks=5)
    with pytest.raises(ValueError, match="too few"):
        probability_of_backtest_overfitting(np.zeros((20, 3)), n_blocks=16)
    holes = np.random.default_rng(0).normal(size=(100, 3))
    holes[42, 1] = np.nan
    with pytest.raises(ValueError, match="row 42"):
        probability_of_backtest_overfitting(holes, n_blocks=4)


def test_track_record_length_is_where_psr_reaches_the_confidence() -> None:
    rng = np.random.default_rng(6)
    returns = rng.standard_t(5, size=4000) * 0.01 + 0.0008
    m = return_moments(returns)
    for target, confidence in ((0.0, 0.95), (0.02, 0.95), (0.0, 0.99)):
        bars = minimum_track_record_length(returns, target, confidence)
        psr = probabilistic_sharpe_ratio(m.sharpe, bars, m.skewness, m.kurtosis, target)  # type: ignore[arg-type]
        assert psr == pytest.approx(confidence, abs=1e-12)


def test_track_record_length_of_normal_returns_by_hand() -> None:
    # Normal returns: MinTRL = 1 + (1 + SR²/2) (z / SR)²; e.g. SR 0.1 a bar at 95%: ~273 bars.
    returns = stats.norm.ppf(np.linspace(0.0005, 0.9995, 20_000)) + 0.1  # SR ~0.1, no skew
    m = return_moments(returns)
    by_hand = (
        1
        + (1 - m.skewness * m.sharpe + (m.kurtosis - 1) / 4 * m.sharpe**2)
        * (stats.norm.ppf(0.95) / m.sharpe) ** 2
    )
    assert minimum_track_record_length(returns) == pytest.approx(by_hand)
    assert 260 < minimum_track_record_length(returns) < 290


def test_fat_left_tails_need_a_longer_record() -> None:
    # An option seller's record: small gains, rare crashes; against normal returns with the
    # same mean and spread (the same Sharpe), it needs several times the bars.
    rng = np.random.default_rng(7)
    seller = np.where(rng.random(2000) < 0.03, -0.10, 0.01)
    crashes = return_moments(seller)
    assert crashes.skewness < -3 and crashes.kurtosis > 10
    normal = rng.normal(size=2000)
    normal = (normal - normal.mean()) / normal.std(ddof=1) * seller.std(ddof=1) + seller.mean()
    assert return_moments(normal).sharpe == pytest.approx(crashes.sharpe)
    assert minimum_track_record_length(seller) > 2.5 * minimum_track_record_length(normal)


def test_no_record_confirms_a_sharpe_at_or_below_the_target() -> None:
    losing = np.random.default_rng(8).normal(-0.001, 0.01, 1000)
    assert minimum_track_record_length(losing) == math.inf
    assert minimum_track_record_length([0.01] * 50) == math.inf  # never varies: Sharpe 0
    with pytest.raises(ValueError, match="confidence"):
        minimum_track_record_length(losing, confidence=1.0)
