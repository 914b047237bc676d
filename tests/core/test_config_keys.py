"""A refused config value is named by its full dotted key, however deep its section: a
nested section's own check (``TimestampConfig``: ``unit``) and a check named from its
parent (``OutlierConfig``: ``outliers.z_max``) both come out as the key a user types."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qraptor.core.errors import ConfigError
from qraptor.data.pipeline_config import load_pipeline_config
from qraptor.store.config import load_store_config
from qraptor.train.config import load_train_config

PIPELINE = [
    ("data.timestamp.unit=parsecs", "data.timestamp.unit", "must be s, ms, us or ns"),
    ("data.timestamp.timezone=Mars/Base", "data.timestamp.timezone", "unknown time zone"),
    ("clean.outliers.z_max=-1", "clean.outliers.z_max", "must be > 0"),
    ("split.walk_forward.n_folds=0", "split.walk_forward.n_folds", ">= 1"),
    ("split.normalize.min_periods=0", "split.normalize.min_periods", ">= 2"),
    ("features.include=[log_return,bogus]", "features.include.1", "unknown feature 'bogus'"),
    ("reduce.freq=banana", "reduce.freq", "not a duration"),
]
SYNTHETIC = [  # three levels deep: data -> synthetic -> bad_ticks
    ("data.synthetic.seed=-1", "data.synthetic.seed", ">= 0"),
    ("data.synthetic.bad_ticks.spike_size=-1", "data.synthetic.bad_ticks.spike_size", "(0, 1)"),
]


@pytest.mark.parametrize(("override", "key", "problem"), PIPELINE)
def test_a_pipeline_error_names_the_full_key(override: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_pipeline_config([override])
    assert caught.value.key == key
    assert problem in caught.value.problem


@pytest.mark.parametrize(("override", "key", "problem"), SYNTHETIC)
def test_a_synthetic_source_error_names_the_full_key(override: str, key: str, problem: str):
    with pytest.raises(ConfigError) as caught:
        load_pipeline_config(["data=synthetic", "reduce=minute", override])
    assert caught.value.key == key
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    ("load", "override", "key"),
    [
        (load_train_config, "session.eval.splits=[bogus]", "session.eval.splits"),
        (load_train_config, "env.reward.scale=-1", "env.reward.scale"),
        (load_train_config, "algo.policy_kwargs.net_arch=[]", "algo.policy_kwargs.net_arch"),
        (load_store_config, "retry.multiplier=0", "store.retry.multiplier"),
        (load_store_config, "local.port=0", "store.local.port"),
    ],
)
def test_other_groups_name_the_full_key(load, override: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load([override])
    assert caught.value.key == key


def test_the_stage_command_prints_the_full_key() -> None:
    """What a user sees: `qraptor data ...` exits 2 naming data.timestamp.unit."""
    done = subprocess.run(
        [sys.executable, "-m", "qraptor.cli.main", "data", "raw", "--out", "unused",
         "data.timestamp.unit=parsecs"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "config key 'data.timestamp.unit': must be s, ms, us or ns" in done.stderr
