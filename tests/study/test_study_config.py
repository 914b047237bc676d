"""A study refuses bad settings and unsound datasets before any session trains, naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from study_helpers import WINDOW, pipeline

from qraptor.core.errors import ConfigError, DataError
from qraptor.study.config import compose_study, study_config_from
from qraptor.study.folds import purged_layout


def _config(*overrides: str):
    return study_config_from(compose_study(list(overrides)))


@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        (["score=best_seed"], "study.score", "median, lcb"),
        (["score=lcb", "seeds=1"], "study.score", "seeds >= 2"),
        (["runner=cluster"], "study.runner", "process, queue"),
        (["search=random"], "study.search", "none, grid, optuna"),
        (["seeds=0"], "study.seeds", ">= 1"),
        (["n_trials=3"], "study.n_trials", "search=none"),
        (["search=optuna", "n_trials=4"], "study.space", "needs a space"),
        (["search=grid", "n_trials=3", "grid=[{algo.gamma: 0.9}]"], "study.n_trials", "grid has 1"),
        (["prune=true"], "study.prune", "search=optuna"),
        (["folds=[1,1]"], "study.folds", "duplicates"),
        (
            ["search=optuna", "space={algo.gamma: {type: float, low: 0.99, high: 0.9}}"],
            "study.space.algo.gamma.high",
            "above low",
        ),
        (
            ["search=optuna", "space={algo.gamma: {type: beta}}"],
            "study.space.algo.gamma.type",
            "float, int, categorical",
        ),
        (["sedes=3"], "study.sedes", "no such key"),
    ],
)
def test_bad_settings_name_their_key(overrides: list[str], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _config(*overrides)
    assert raised.value.key == key
    assert words in str(raised.value)


def test_the_shipped_study_files_validate() -> None:
    default = _config()
    assert (default.seeds, default.score, default.search, default.runner) == (
        3, "median", "none", "process",
    )  # fmt: skip
    search = _config("study=ppo_search")
    assert search.search == "optuna" and search.n_trials == 20 and search.space


def test_a_space_key_the_session_lacks_fails_its_trial_by_name(sample_dataset: Path, study) -> None:
    summary = study(sample_dataset, "search=grid", "grid=[{algo.no_such_knob: 1}]", "seeds=1")
    (trial,) = summary["trials"]
    assert trial["status"] == "failed" and "algo.no_such_knob" in trial["error"]
    assert summary["selection"] is None and summary["held_out"] is None
    assert summary["sessions"] == []  # nothing trained, the test span untouched


@pytest.fixture(scope="module")
def features(sample_dataset: Path) -> Path:
    return sample_dataset.parent / "features.parquet"


def test_a_dataset_whose_folds_reach_into_the_test_span_is_refused(
    features: Path, tmp_path: Path
) -> None:
    dataset = pipeline(tmp_path, "split.walk_forward.exclude_test=false", features=features)
    with pytest.raises(DataError) as raised:
        purged_layout(dataset)
    message = str(raised.value)
    assert "split.walk_forward.exclude_test" in message and "held-out test span" in message


def test_a_dataset_without_an_embargo_is_refused(features: Path, tmp_path: Path) -> None:
    dataset = pipeline(tmp_path, "split.embargo=0", features=features)
    with pytest.raises(DataError, match=r"split\.embargo"):
        purged_layout(dataset)


def test_the_study_command_refuses_before_training(features: Path, tmp_path: Path, study) -> None:
    dataset = pipeline(tmp_path, "split.walk_forward.exclude_test=false", features=features)
    with pytest.raises(DataError, match="exclude_test"):
        study(dataset)
    assert not (tmp_path / "study").exists()  # no session folder, no report


def test_a_trial_failing_at_a_later_fold_keeps_its_partial_series(
    sample_dataset: Path, study, tmp_path: Path
) -> None:
    """Episodes of 3,000 bars fit fold 3's training span (~4,400 bars), not fold 0's (~2,500):
    the trial fails at its second fold and keeps fold 3's out-of-sample returns."""
    import pandas as pd

    summary = study(
        sample_dataset, "search=grid", "grid=[{env.episode.length: 3000}]", "folds=[3,0]",
        "seeds=1", out=tmp_path / "partial",
    )  # fmt: skip
    (trial,) = summary["trials"]
    assert trial["status"] == "failed" and "env.episode.length" in trial["error"]
    assert trial["folds_done"] == [3]
    returns = pd.read_parquet(tmp_path / "partial" / "oos_returns.parquet")["trial_000"]
    fold3 = summary["layout"]["folds"][0]["test"]["rows"]
    assert returns.notna().sum() == fold3 - WINDOW
    assert summary["held_out"] is None  # nothing selected: the test span untouched
