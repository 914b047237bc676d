"""No look-ahead, as properties: perturbing any bar after t changes nothing at or before t.

Covers the raw features, both normalisation modes, the chronological dataset and every
walk-forward fold file; and the span layout (no overlap, embargo kept, train < val < test).
Equality is exact: a causal computation of a value at t never reads a later bar, so not
even the last bit may move.
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qraptor.core.errors import DataError
from qraptor.data.features import FEATURES, FeaturesConfig, compute_features, feature_columns
from qraptor.data.normalize import NormalizeConfig
from qraptor.data.pipeline_config import load_pipeline_section
from qraptor.data.split import (
    ChronoConfig,
    SplitConfig,
    WalkForwardConfig,
    chrono_spans,
    load_split,
    make_dataset,
    walk_forward_folds,
)

N_BARS = 700
PRICE_COLUMNS = ["open", "high", "low", "close", "vwap"]
SETTINGS = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])


def features_config() -> FeaturesConfig:
    return load_pipeline_section("features", FeaturesConfig)


def random_bars(n: int, seed: int) -> pd.DataFrame:
    """Hourly bars of a geometric random walk, in the bar contract."""
    rng = np.random.default_rng(seed)
    close = 1.1 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0, 5e-4, (2, n)))
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) * (1 + wick[0]),
            "low": np.minimum(open_, close) * (1 - wick[1]),
            "close": close,
            "volume": rng.lognormal(10, 1, n),
            "vwap": (open_ + close) / 2,
            "trades": rng.integers(1, 500, n),
        }
    )


def perturb_after(bars: pd.DataFrame, t: int, seed: int, scale: float) -> pd.DataFrame:
    """Every bar column of every row after position t changed (prices stay positive)."""
    rng = np.random.default_rng(seed)
    out = bars.copy()
    later = slice(t + 1, len(bars))
    k = len(bars) - t - 1
    for col in PRICE_COLUMNS:
        out.loc[out.index[later], col] *= np.exp(rng.normal(0, scale, k))
    out.loc[out.index[later], "volume"] *= np.exp(rng.normal(0, 3 * scale, k))
    out.loc[out.index[later], "trades"] = rng.integers(1, 10_000, k)
    return out


perturbation = st.tuples(
    st.one_of(st.integers(0, 150), st.integers(0, N_BARS - 2)),  # t: last untouched bar
    st.integers(0, 2**32 - 1),  # seed of the bars
    st.integers(0, 2**32 - 1),  # seed of the perturbation
    st.sampled_from([1e-9, 1e-3, 0.5, 5.0]),  # from a last-bit nudge to a wild regime
)


def at_or_before(frame: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    return frame[frame["timestamp"] <= cutoff].reset_index(drop=True)


@SETTINGS
@given(perturbation, st.lists(st.sampled_from(list(FEATURES)), min_size=1, unique=True))
def test_features_at_or_before_t_ignore_every_later_bar(case: tuple, include: list) -> None:
    t, bars_seed, noise_seed, scale = case
    bars = random_bars(N_BARS, bars_seed)
    cfg = dataclasses.replace(features_config(), include=include)  # short warm-ups too
    original = compute_features(bars, cfg)
    perturbed = compute_features(perturb_after(bars, t, noise_seed, scale), cfg)
    cutoff = bars["timestamp"].iloc[t]
    pd.testing.assert_frame_equal(
        at_or_before(perturbed, cutoff), at_or_before(original, cutoff), check_exact=True
    )
    later = (original["timestamp"] > cutoff).to_numpy()
    if later.sum() > 1:  # the perturbation did reach the features after t
        columns = feature_columns(cfg, original["timestamp"])
        after_t = perturbed.loc[later, columns].to_numpy(), original.loc[later, columns].to_numpy()
        assert (after_t[0] != after_t[1]).any()


def split_config(method: str, scheme: str, embargo: int, n_folds: int) -> SplitConfig:
    return SplitConfig(
        embargo=embargo,
        lost_share_warning=1.0,
        chrono=ChronoConfig("fractions", 0.6, 0.2, None, None),
        walk_forward=WalkForwardConfig(True, n_folds, scheme, 0.5, exclude_test=False),
        normalize=NormalizeConfig(method, window=60, min_periods=30, clip=None),
    )


@pytest.mark.parametrize("method", ["expanding", "rolling"])
@pytest.mark.parametrize("scheme", ["expanding", "rolling"])
@settings(SETTINGS, max_examples=15)  # x4 combinations; each writes ~10 Parquet files
@given(case=perturbation, embargo=st.integers(0, 20), n_folds=st.integers(1, 4))
def test_normalised_values_and_folds_at_or_before_t_ignore_later_bars(
    method: str, scheme: str, case: tuple, embargo: int, n_folds: int
) -> None:
    t, bars_seed, noise_seed, scale = case
    bars = random_bars(N_BARS, bars_seed)
    features_cfg = features_config()
    columns = feature_columns(features_cfg, bars["timestamp"])
    cfg = split_config(method, scheme, embargo, n_folds)
    cutoff = bars["timestamp"].iloc[t]
    with tempfile.TemporaryDirectory() as tmp:
        written = {}
        for name, frame in (("a", bars), ("b", perturb_after(bars, t, noise_seed, scale))):
            make_dataset(compute_features(frame, features_cfg), columns, cfg, Path(tmp, name))
            written[name] = [load_split(Path(tmp, name), "all")] + [
                load_split(Path(tmp, name), "all", fold=k) for k in range(n_folds)
            ]
    for original, perturbed in zip(written["a"], written["b"], strict=True):
        pd.testing.assert_frame_equal(
            at_or_before(perturbed, cutoff), at_or_before(original, cutoff), check_exact=True
        )


@SETTINGS
@given(
    n=st.integers(300, 20_000),
    train=st.floats(0.3, 0.8),
    val=st.floats(0.05, 0.15),
    embargo=st.integers(0, 50),
    n_folds=st.integers(1, 8),
    scheme=st.sampled_from(["expanding", "rolling"]),
    exclude_test=st.booleans(),
)
def test_spans_are_ordered_disjoint_and_embargoed(
    n: int, train: float, val: float, embargo: int, n_folds: int, scheme: str, exclude_test: bool
) -> None:
    cfg = SplitConfig(
        embargo=embargo,
        lost_share_warning=1.0,
        chrono=ChronoConfig("fractions", train, val, None, None),
        walk_forward=WalkForwardConfig(True, n_folds, scheme, 0.5, exclude_test),
        normalize=NormalizeConfig("expanding", window=10, min_periods=2, clip=None),
    )
    timestamps = pd.Series(pd.date_range("2024-01-01", periods=n, freq="min", tz="UTC"))
    try:
        spans = chrono_spans(timestamps, cfg)
    except DataError:
        assert embargo > n * min(train, val, 1 - train - val) - 2  # only when spans vanish
        return
    assert [s.label for s in spans] == ["train", "embargo", "val", "embargo", "test"]
    assert spans[0].start == 0 and spans[-1].stop == n
    for before, after in itertools.pairwise(spans):
        assert before.stop == after.start  # contiguous, hence never overlapping
    assert all(s.stop - s.start == embargo for s in spans if s.label == "embargo")
    assert all(s.stop > s.start for s in spans if s.label != "embargo")  # train < val < test

    region = spans[3].start if exclude_test else n
    try:
        folds = walk_forward_folds(region, cfg, embargo)
    except DataError:
        return
    for k, (fold_train, fold_embargo, fold_test) in enumerate(folds):
        assert 0 <= fold_train.start < fold_train.stop == fold_embargo.start
        assert fold_embargo.stop - fold_embargo.start == embargo
        assert fold_embargo.stop == fold_test.start < fold_test.stop <= region
        if k:
            assert fold_test.start == folds[k - 1][2].stop  # test windows tile, never overlap
        if scheme == "expanding":
            assert fold_train.start == 0
    assert folds[-1][2].stop == region
    if scheme == "rolling":
        assert len({f[0].stop - f[0].start for f in folds}) == 1
