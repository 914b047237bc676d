"""A walk-forward study of a portfolio agent (issue 16) on the S&P 500 sample: two
configurations over two folds, then the held-out test once, judged against 1/N after costs
with the DSR over the trials and the PBO; the stitched baselines are 1/N and buy-and-hold,
and the held-out report carries every portfolio baseline. Tiny sessions: the path, not
skill."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from qraptor.evaluation.baseline_names import PORTFOLIO_BASELINES

pytestmark = pytest.mark.slow  # 6 sessions with the optimised baselines (~40 s)

TINY = (
    "experiment=portfolio_quick",
    "tracking.enabled=false",
    "session.total_timesteps=256",
    "session.n_envs=4",
    "session.checkpoint_every=256",
    "algo.n_steps=64",
    "algo.batch_size=64",
    "algo.n_epochs=1",
    "env.window=8",
    "env.episode.length=64",
)


@pytest.fixture(scope="module")
def result(panel_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    from qraptor.cli.study import run

    out = tmp_path_factory.mktemp("portfolio_study") / "out"
    summary = run(
        [
            *TINY,
            f"session.dataset={panel_dataset}",
            f"out_dir={out}",
            "seeds=1",
            "folds=[2, 3]",
            "search=grid",
            "n_trials=2",
            "grid=[{env.weights.temperature: 1.0}, {env.weights.temperature: 0.25}]",
        ],
        progress=False,
    )
    return summary, out


def test_the_study_judges_the_portfolio_agent_against_one_over_n(result) -> None:
    summary, out = result
    written = json.loads((out / "study.json").read_text())
    assert [t["status"] for t in written["trials"]] == ["finished", "finished"]
    assert written["statistics"]["pbo"]["n_trials"] == 2
    assert 0.0 <= written["statistics"]["pbo"]["pbo"] <= 1.0
    assert written["selection"]["oos_verdict"]["benchmark"] == "equal_weight"
    held = written["held_out"]
    assert held["verdict"]["benchmark"] == "equal_weight"
    assert held["verdict"]["n_trials"] == 2 and held["verdict"]["pbo"] is not None
    assert set(held["baselines_sharpe_annualised"]) == set(PORTFOLIO_BASELINES)
    assert summary["study_id"] == written["study_id"]


def test_the_stitched_baselines_are_one_over_n_and_buy_and_hold(result) -> None:
    _, out = result
    baselines = pd.read_parquet(out / "oos_baselines.parquet")
    assert {"equal_weight", "buy_and_hold"} <= set(baselines.columns)
    assert len(baselines) > 0 and baselines.notna().all().all()
    sessions = sorted(p.name for p in (out / "sessions").iterdir())
    assert len(sessions) == 5  # 2 trials x 2 folds x 1 seed + the held-out session
