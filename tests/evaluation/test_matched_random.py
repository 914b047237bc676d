"""The `random` baseline is matched to the agent's trading; `random_uniform` is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qraptor.env import Market, load_env_config
from qraptor.evaluation.backtest import rollout, rollout_by_bar
from qraptor.evaluation.baselines import matched_random, run_baselines, trading_profile
from qraptor.evaluation.evaluate import evaluate_model
from qraptor.evaluation.metrics import compute_metrics

SHORT, FLAT, LONG = 0, 1, 2
RUNS = 16
# median over RUNS matched runs against the agent's: relative for trades and holding time,
# absolute for the share of bars in the market
TRADES_TOLERANCE, TIME_TOLERANCE, HOLDING_TOLERANCE = 0.15, 0.05, 0.25


@pytest.fixture(scope="module")
def sample(sample_eurusd_csv: Path) -> Market:
    """The first 2,000 hourly EUR/USD bars of the demo's sample (features unused)."""
    raw = pd.read_csv(sample_eurusd_csv).iloc[:2000]
    stamps = pd.to_datetime(raw["Time"], format="%d.%m.%Y %H:%M:%S.%f", utc=True)
    return Market(
        timestamps=stamps.astype("int64").to_numpy(),
        open=raw["Open"].to_numpy(float),
        high=raw["High"].to_numpy(float),
        low=raw["Low"].to_numpy(float),
        close=raw["Close"].to_numpy(float),
        vwap=raw["Close"].to_numpy(float),
        features=np.zeros((len(raw), 1), np.float32),
        feature_names=("z_a",),
    )


def trend_agent(close: np.ndarray) -> np.ndarray:
    """A stand-in agent like the demo's (long or short most of the time, a trade every ~20
    bars): long when the 6-bar mean is 2 bp above the 24-bar one, short 2 bp below, else
    flat; decided at bar t from closes up to t."""
    fast = pd.Series(close).rolling(6).mean().to_numpy()
    slow = pd.Series(close).rolling(24).mean().to_numpy()
    action = np.where(fast > slow * 1.0002, LONG, np.where(fast < slow * 0.9998, SHORT, FLAT))
    return np.where(np.isnan(slow), FLAT, action)


def median(backtests, key: str) -> float:
    return float(np.median([compute_metrics(b.curve)[key] for b in backtests]))


def test_matched_random_trades_like_the_agent_and_uniform_does_not(sample) -> None:
    cfg = load_env_config(["window=32", "features=null", "episode.mode=full"])  # default costs
    actions = trend_agent(sample.close)
    agent = rollout_by_bar(sample, cfg, lambda bar: int(actions[bar]), liquidate=True)
    mine = compute_metrics(agent.curve)
    runs = run_baselines(
        sample, cfg, ["random", "random_uniform"], RUNS, 0, liquidate=True, agent=agent
    )
    matched, uniform = runs["random"], runs["random_uniform"]
    assert len(matched) == RUNS and mine["n_trades"] > 100
    assert median(matched, "n_trades") == pytest.approx(mine["n_trades"], rel=TRADES_TOLERANCE)
    assert abs(median(matched, "time_in_market") - mine["time_in_market"]) < TIME_TOLERANCE
    assert median(matched, "avg_holding_bars") == pytest.approx(
        mine["avg_holding_bars"], rel=HOLDING_TOLERANCE
    )
    assert median(uniform, "n_trades") > 3 * mine["n_trades"]
    assert abs(median(uniform, "time_in_market") - mine["time_in_market"]) > 0.2
    # random timing: the runs differ from the agent and from each other
    equity = [b.curve["equity"].iloc[-1] for b in matched]
    assert len(set(equity)) == RUNS and agent.curve["equity"].iloc[-1] not in equity


def test_the_matched_random_is_seeded_and_copies_the_agents_moves(sample) -> None:
    cfg = load_env_config(["window=32", "features=null", "episode.mode=full"])
    actions = trend_agent(sample.close)
    agent = rollout_by_bar(sample, cfg, lambda bar: int(actions[bar]))
    profile = trading_profile(agent)
    np.testing.assert_allclose(profile.levels, [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(profile.transitions.sum(axis=1), 1.0)
    a, b = (matched_random(sample, cfg, profile, seed=3) for _ in range(2))
    pd.testing.assert_frame_equal(a.curve, b.curve)
    assert not matched_random(sample, cfg, profile, seed=4).curve.equals(a.curve)
    # only targets the agent held, and only moves it made
    moves = set(zip(np.concatenate([[0.0], a.targets[:-1]]), a.targets, strict=True))
    made = set(zip(np.concatenate([[0.0], agent.targets[:-1]]), agent.targets, strict=True))
    assert moves <= made


def test_an_agent_that_never_trades_gets_a_random_that_never_trades(sample) -> None:
    cfg = load_env_config(["window=32", "features=null", "episode.mode=full"])
    idle = rollout(sample, cfg, lambda obs: FLAT)
    runs = run_baselines(sample, cfg, ["random"], 4, 0, liquidate=True, agent=idle)
    assert all(run.trades.empty for run in runs["random"])


class Flat:
    def predict(self, obs: np.ndarray, deterministic: bool = True):
        return np.int64(FLAT), None


def test_random_sharpes_are_the_matched_runs(sample) -> None:
    cfg = load_env_config(["window=32", "features=null", "episode.mode=full"])
    evaluation = evaluate_model(
        Flat(), sample, cfg, split="val", deterministic=True,
        baselines=["random", "random_uniform"], random_runs=3, seed=0,
        periods_per_year=None, liquidate=True, min_annualised_days=91,
    )  # fmt: skip
    assert evaluation.random_sharpes == [0.0, 0.0, 0.0]  # matched to a flat agent
    assert evaluation.baselines["random_uniform"]["n_trades"] > 100
    with pytest.raises(ValueError, match="agent"):
        run_baselines(sample, cfg, ["random"], 1, 0)
