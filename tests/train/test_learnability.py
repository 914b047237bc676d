"""Learnability (issue 4): signal flows end to end, and noise is not sold as signal.

On 40 sessions of synthetic 1-minute bars with a planted AR(1) edge (ar_coef 0.3), made by
the data pipeline's functions, the default PPO session of the `learnability` preset must beat
buy-and-hold and every random-policy run on the TEST split by a clear margin; on a pure
random walk (ar_coef 0) the same session must not claim an edge. "Claiming an edge" means a
t-statistic of the mean bar return above 3 (about 1 in 700 by luck), for the agent alone
and for its paired return difference to buy-and-hold. Measured with these seeds (2 busy
cores, 200k timesteps, ~15 s a session): planted test t ~ 6.3-7.5 over session seeds 0-2,
random walk t ~ -0.1 to 1.3.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from qraptor.evaluation.metrics import simple_returns, t_statistic
from qraptor.evaluation.planted import planted_dataset
from qraptor.train import TrainResult, load_train_config, train_session

pytestmark = pytest.mark.slow
EDGE_T = 3.0
DATA = ("data.synthetic.ticks_per_second=0.5", "split.walk_forward.enabled=false")
SESSION = (
    "experiment=learnability",
    "session.eval.splits=[test]",
    "session.objective=test.sharpe",
    "session.seed=0",
)


def _session(tmp: Path, ar_coef: float) -> TrainResult:
    dataset = tmp / "dataset"
    planted_dataset(dataset, ar_coef=ar_coef, days=40, seed=7, overrides=DATA)
    cfg = load_train_config([*SESSION, f"session.dataset={dataset}"])
    return train_session(cfg, tmp / "session")


def _edges(result: TrainResult) -> tuple[float, float]:
    """(t of the agent's mean bar return, paired t of agent minus buy-and-hold)."""
    agent = pd.read_csv(result.equity["test"], parse_dates=["timestamp"])
    folder = result.equity["test"].parent
    hold = pd.read_csv(folder / "baselines_equity.csv", parse_dates=["timestamp"])
    both = agent[["timestamp", "equity"]].merge(hold[["timestamp", "buy_and_hold"]])
    mine = simple_returns(both["equity"].to_numpy())
    theirs = simple_returns(both["buy_and_hold"].to_numpy())
    return t_statistic(mine), t_statistic(mine - theirs)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return _session(tmp_path_factory.mktemp("planted"), ar_coef=0.3)


@pytest.fixture(scope="module")
def random_walk(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return _session(tmp_path_factory.mktemp("random_walk"), ar_coef=0.0)


def test_the_planted_edge_is_learned(planted: TrainResult) -> None:
    agent, baselines = planted.metrics["test"], planted.baselines["test"]
    alone, versus_hold = _edges(planted)
    figures = (
        f"agent Sharpe {agent['sharpe']:.1f} (t {alone:.2f}, vs buy-and-hold t "
        f"{versus_hold:.2f}), buy-and-hold {baselines['buy_and_hold']['sharpe']:.1f}, "
        f"random median {baselines['random']['sharpe']:.1f}"
    )
    print(f"planted edge: {figures}")  # shown with -rA: the figures behind the verdict
    assert alone > EDGE_T, figures
    assert versus_hold > EDGE_T, figures
    random_sharpes = pd.read_json(planted.equity["test"].parent / "metrics.json", typ="series")[
        "random_sharpes"
    ]
    assert agent["sharpe"] > max(random_sharpes) + 10, figures  # every random run, clearly
    assert agent["total_return"] > baselines["buy_and_hold"]["total_return"] + 0.05, figures


def test_a_random_walk_claims_no_edge(random_walk: TrainResult) -> None:
    alone, versus_hold = _edges(random_walk)
    agent = random_walk.metrics["test"]
    figures = (
        f"agent Sharpe {agent['sharpe']:.1f} (t {alone:.2f}, vs buy-and-hold t {versus_hold:.2f})"
    )
    print(f"random walk: {figures}")
    assert alone < EDGE_T, figures
    assert versus_hold < EDGE_T, figures
