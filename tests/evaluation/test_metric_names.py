"""One naming scheme for results: <split>/<policy>/<metric>, parsed back, nested and flat."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qraptor.evaluation.metric_names import (
    flat_metrics,
    metric_key,
    nest_metrics,
    objective_key,
    objective_parts,
    parse_metric_key,
    session_key,
)


def test_a_key_names_split_policy_and_metric_and_parses_back() -> None:
    assert metric_key("val", "agent", "sharpe") == "val/agent/sharpe"
    assert metric_key("test", "buy_and_hold", "sharpe") == "test/buy_and_hold/sharpe"
    assert metric_key("val", "verdict", "psr") == "val/verdict/psr"
    assert parse_metric_key("val/buy_and_hold/max_drawdown") == ("val", "buy_and_hold",
                                                                  "max_drawdown")  # fmt: skip
    assert session_key("timesteps") == "session/timesteps"


@pytest.mark.parametrize("parts", [("", "agent", "sharpe"), ("val", "a/b", "sharpe"),
                                   ("val", "agent", "")])  # fmt: skip
def test_a_part_that_would_not_parse_back_is_refused(parts: tuple[str, str, str]) -> None:
    with pytest.raises(ValueError, match="metric key part"):
        metric_key(*parts)


@pytest.mark.parametrize("key", ["val.sharpe", "val/sharpe", "val/agent/sharpe/x", "val//sharpe"])
def test_what_is_not_a_key_is_named(key: str) -> None:
    with pytest.raises(ValueError, match=key):
        parse_metric_key(key)


def test_flat_and_nested_are_inverse() -> None:
    nested = {"val": {"agent": {"sharpe": 1.0, "psr": 0.6}, "flat": {"sharpe": 0.0}},
              "test": {"verdict": {"edge": False}}}  # fmt: skip
    flat = flat_metrics(nested)
    assert flat == {"val/agent/sharpe": 1.0, "val/agent/psr": 0.6, "val/flat/sharpe": 0.0,
                    "test/verdict/edge": False}  # fmt: skip
    assert nest_metrics({**flat, "objective": 1.0, "session/timesteps": 256}) == (
        nested,
        {"objective": 1.0, "session/timesteps": 256},
    )


def test_the_objective_takes_either_form_and_is_the_agents() -> None:
    assert objective_parts("val.sharpe") == objective_parts("val/agent/sharpe") == ("val", "sharpe")
    assert objective_key("test.total_return") == "test/agent/total_return"
    for bad in ("val/buy_and_hold/sharpe", "sharpe", "val.", "val.agent.sharpe"):
        with pytest.raises(ValueError, match="must be"):
            objective_parts(bad)


def test_the_module_stays_light() -> None:
    code = (
        "import sys, qraptor.evaluation.metric_names; print({'numpy', 'pandas'} & set(sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "set()"
