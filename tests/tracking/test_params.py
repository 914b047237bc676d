"""Params are the flattened config with secrets masked and MLflow's limits respected;
evaluation metrics get stable, comparable names."""

from __future__ import annotations

import math

from qraptor.tracking.params import (
    MAX_PARAM_VALUE,
    NOT_PARAMS,
    batches,
    evaluation_metrics,
    flatten_params,
)
from qraptor.train import load_train_config


def test_every_leaf_of_the_training_config_is_a_param() -> None:
    config = load_train_config(["experiment=quick"]).to_dict()
    params = flatten_params({**config, "store": {"uri": None}, "tracking": {"uri": None}})
    assert params["session.name"] == "quick"
    assert params["algo.name"] == "ppo"
    assert params["session.eval.splits"] == "[val, test]"
    assert params["session.fold"] == "null"
    assert params["algo.policy_kwargs.net_arch"].startswith("[")
    assert not any(key.split(".")[0] in NOT_PARAMS for key in params)
    assert all(isinstance(v, str) for v in params.values())
    assert len(params) > 50


def test_secrets_never_become_params() -> None:
    config = {
        "session": {"name": "x", "dataset": "mongodb://reader:hunter2@db:27017/qraptor"},
        "env": {"broker": {"api_key": "AKIA-SECRET", "password": "pw123", "host": "h"}},
        "algo": {"notes": "see https://bob:tok3n@example.org/x", "token": "abc"},
    }
    text = repr(flatten_params(config))
    for secret in ("hunter2", "AKIA-SECRET", "pw123", "tok3n", "'abc'"):
        assert secret not in text
    assert flatten_params(config)["env.broker.host"] == "h"


def test_long_values_are_cut_not_rejected() -> None:
    params = flatten_params({"algo": {"note": "x" * 10_000}})
    assert len(params["algo.note"]) == MAX_PARAM_VALUE
    assert params["algo.note"].endswith("[truncated]")


def test_batches_respect_the_limit() -> None:
    chunks = list(batches(list(range(250)), 100))
    assert [len(c) for c in chunks] == [100, 100, 50]
    assert [x for chunk in chunks for x in chunk] == list(range(250))


def test_evaluation_metric_names_per_split_and_baseline() -> None:
    metrics = {"val": {"sharpe": 1.5, "calmar": math.nan}, "test": {"sharpe": -0.2}}
    baselines = {"val": {"buy_and_hold": {"sharpe": 0.4, "max_drawdown": 0.1}}}
    flat = evaluation_metrics(metrics, baselines)
    assert flat == {
        "val/agent/sharpe": 1.5,
        "test/agent/sharpe": -0.2,
        "val/buy_and_hold/sharpe": 0.4,
        "val/buy_and_hold/max_drawdown": 0.1,
    }  # NaN (a Calmar ratio without drawdown) left out
