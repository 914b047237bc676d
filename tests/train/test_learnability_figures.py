"""The figures the learnability check judges by (qraptor.train.learnability), on made-up
runs: fast, so the slow check's arithmetic is tested on every run of the suite."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qraptor.train import load_train_config
from qraptor.train.learnability import PlantedRun, planted_session, significance


def _run(seed: int, returns: np.ndarray, sharpe: float = 1.0, oracle: float = 2.0) -> PlantedRun:
    return PlantedRun(
        seed=seed, split="test", agent={"sharpe": sharpe}, oracle={"sharpe": oracle},
        returns=returns, timesteps=1, learn_seconds=1.0, wall_seconds=1.0,
    )  # fmt: skip


def test_the_fraction_of_the_oracle_is_undefined_when_the_oracle_earns_nothing() -> None:
    noise = np.zeros(10)
    assert _run(0, noise, sharpe=1.5, oracle=3.0).fraction_of_oracle == 0.5
    assert math.isnan(_run(0, noise, sharpe=1.5, oracle=0.0).fraction_of_oracle)


def test_noise_runs_show_no_edge_and_one_real_edge_does() -> None:
    rng = np.random.default_rng(0)
    noise = [_run(s, rng.normal(0.0, 0.01, 4000)) for s in range(3)]
    dsr, pbo = significance(noise)
    assert dsr.n_trials == pbo.n_trials == 3
    assert dsr.dsr < 0.95 and pbo.pbo > 0.25
    edge = _run(9, rng.normal(0.002, 0.01, 4000))  # per-bar Sharpe 0.2 over 4000 bars
    dsr, pbo = significance([*noise[:2], edge])
    assert dsr.best.sharpe == pytest.approx(float(edge.returns.mean() / edge.returns.std(ddof=1)))
    assert dsr.dsr > 0.99 and pbo.pbo < 0.05


def test_runs_over_different_spans_are_refused() -> None:
    with pytest.raises(ValueError, match="different numbers of bars"):
        significance([_run(0, np.zeros(10)), _run(1, np.zeros(11))])


def test_the_oracle_split_must_be_evaluated(tmp_path) -> None:
    cfg = load_train_config(["session.eval.splits=[val]"])
    with pytest.raises(ValueError, match="'test' is not among session"):
        planted_session(cfg, tmp_path, ar_coef=0.1)
