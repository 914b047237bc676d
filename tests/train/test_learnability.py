"""Learnability (issue 14): a realistic planted edge is learned at the default costs, and
noise is not sold as signal.

The planted market (`planted.HOURLY_CRYPTO`): hourly bars of a round-the-clock synthetic
market at crypto-like volatility whose returns are AR(1) with coefficient 0.1, four years
of them (35k bars; the test span is the last 30 %, ~10.5k bars), made by the data pipeline's
functions. The yardstick is the oracle rule (`planted.oracle`: it knows the coefficient and
trades the one-bar forecast when it beats the cost of the trade), backtested on the same
test span with the same costs: the DEFAULT ones (2 bp fee + 0.5 bp slippage). Over 3 data
seeds x 3 session seeds, the `learnability` preset's PPO session must reach at least 30 % of
the oracle's test Sharpe (median of the 9 ratios). On 3 random walks (ar_coef 0) the same
session claims no edge: the best of the 3 has a deflated Sharpe ratio below 0.95 with the 3
sessions as trials, and the probability of backtest overfitting of the 3 sessions' test
returns is not low (skill-less trials give ~0.5-0.67 with 3 columns).

Figures measured with these seeds are in the README's learnability section; `pytest -s`
prints them per session.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from qraptor.evaluation.metrics import t_statistic
from qraptor.evaluation.planted import HOURLY_CRYPTO, LONG_TEST_SPLIT, planted_dataset
from qraptor.train import load_train_config
from qraptor.train.learnability import PlantedRun, planted_session, significance

pytestmark = pytest.mark.slow
AR_COEF = 0.1
DAYS = 1460  # four years of hourly bars
PLANTED_DATA_SEEDS = (1, 2, 3)
RANDOM_WALK_DATA_SEEDS = (11, 12, 13)
SESSION_SEEDS = (0, 1, 2)
MIN_FRACTION_OF_ORACLE = 0.3
MAX_DSR = 0.95
MIN_PBO = 0.25  # "not low": skill-less trials give ~0.5-0.67; one real edge among them ~0
EDGE_T = 3.0


def _runs(tmp: Path, ar_coef: float, data_seed: int, session_seeds: tuple[int, ...]) -> list:
    dataset = tmp / f"dataset-{data_seed}"
    planted_dataset(
        dataset, ar_coef=ar_coef, days=DAYS, seed=data_seed, market=HOURLY_CRYPTO,
        overrides=LONG_TEST_SPLIT,
    )  # fmt: skip
    runs = []
    for seed in session_seeds:
        overrides = [
            "experiment=learnability",
            f"session.dataset={dataset}",
            f"session.seed={seed}",
        ]
        run = planted_session(
            load_train_config(overrides), tmp / f"session-{data_seed}-{seed}", ar_coef
        )
        print(f"data seed {data_seed}, {_figures(run)}")
        runs.append(run)
    return runs


def _t(run: PlantedRun, who: str) -> float:
    per_bar = run.agent["sharpe_per_bar"] if who == "agent" else run.oracle["sharpe_per_bar"]
    return per_bar * math.sqrt(run.agent["bars"] - 1)


def _figures(run: PlantedRun) -> str:
    return (
        f"session seed {run.seed}: agent test Sharpe {run.agent['sharpe']:.2f} "
        f"(t {t_statistic(run.returns):.2f}), oracle {run.oracle['sharpe']:.2f} "
        f"(t {_t(run, 'oracle'):.2f}), fraction of oracle {run.fraction_of_oracle:.2f}; "
        f"{run.timesteps:,} timesteps, {run.wall_seconds:.0f} s"
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> list[list[PlantedRun]]:
    tmp = tmp_path_factory.mktemp("planted")
    return [_runs(tmp, AR_COEF, seed, SESSION_SEEDS) for seed in PLANTED_DATA_SEEDS]


@pytest.fixture(scope="module")
def random_walks(tmp_path_factory: pytest.TempPathFactory) -> list[PlantedRun]:
    tmp = tmp_path_factory.mktemp("random_walk")
    return [run for seed in RANDOM_WALK_DATA_SEEDS for run in _runs(tmp, 0.0, seed, (0,))]


def test_the_check_runs_at_the_default_costs() -> None:
    preset, default = load_train_config(["experiment=learnability"]), load_train_config()
    assert preset.env.costs == default.env.costs
    assert (default.env.costs.fee_rate, default.env.costs.slippage_bps) == (2e-4, 0.5)


def test_the_planted_edge_is_learned(planted: list[list[PlantedRun]]) -> None:
    runs = [run for per_dataset in planted for run in per_dataset]
    fractions = [run.fraction_of_oracle for run in runs]
    median = statistics.median(fractions)
    oracle_t = statistics.median(_t(per_dataset[0], "oracle") for per_dataset in planted)
    figures = (
        f"median fraction of the oracle's test Sharpe {median:.2f} over {len(runs)} sessions "
        f"(agent median {statistics.median(r.agent['sharpe'] for r in runs):.2f}, oracle "
        f"median {statistics.median(r.oracle['sharpe'] for r in runs):.2f}, oracle t median "
        f"{oracle_t:.2f})"
    )
    print(figures)
    for per_dataset in planted:  # the same span for every session of a dataset
        dsr, pbo = significance(per_dataset)
        print(f"  planted, one dataset: DSR {dsr.dsr:.3f} over {dsr.n_trials}, PBO {pbo.pbo:.2f}")
    assert oracle_t >= EDGE_T, figures  # the planted edge is there to find, after costs
    assert median >= MIN_FRACTION_OF_ORACLE, figures


def test_a_random_walk_claims_no_edge(random_walks: list[PlantedRun]) -> None:
    dsr, pbo = significance(random_walks)
    sharpes = ", ".join(f"{r.agent['sharpe']:.2f}" for r in random_walks)
    figures = (
        f"random walks: agent test Sharpes {sharpes}; best deflated over {dsr.n_trials} "
        f"sessions: DSR {dsr.dsr:.3f} (PSR {dsr.psr:.3f}); PBO {pbo.pbo:.2f}"
    )
    print(figures)
    assert all(np.isnan(r.fraction_of_oracle) for r in random_walks)  # the oracle never trades
    assert dsr.dsr < MAX_DSR, figures
    assert pbo.pbo >= MIN_PBO, figures
