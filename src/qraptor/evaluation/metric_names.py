"""Names of the metrics, and the one scheme every user-facing name follows.

No numpy/pandas/scipy here: config schemas import this.

A result is named ``<split>/<policy>/<metric>`` wherever a user sees or queries it: MLflow
(``metrics.`val/agent/sharpe```), the DVC metrics file (``dvc metrics show``), the
dashboard's and ``qraptor compare``'s column headers. The policy is ``agent``, a baseline
(``buy_and_hold``, ``random``... evaluation.baseline_names) or ``verdict`` for the fields of
a split's verdict (``val/verdict/psr``, ``val/verdict/edge``). MLflow's UI groups charts by
the part before the first ``/``, so a split's charts sit together. Figures of the session
itself are ``session/<name>`` (``session/timesteps``); the session's objective stays
``objective``, and a sweep's parent run carries ``best/objective``.

Internal structures (a TrainResult's nested dicts, a run folder's eval/<split>/metrics.json,
the session document's summary) stay nested; `flat_metrics` and `nest_metrics` convert.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

METRIC_NAMES = (
    "total_return",
    "annual_return",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "turnover",
    "hit_rate",
    "avg_holding_bars",
    "costs_paid",
    "exposure",
    "time_in_market",
    "n_trades",
    "bars",
    "span_days",
    "final_equity",
    # per-bar (not annualised) moments: what the probabilistic and deflated Sharpe ratios need
    "sharpe_per_bar",
    "skewness",
    "kurtosis",
)

SEP = "/"
AGENT = "agent"
VERDICT = "verdict"  # the policy part of a verdict's fields: val/verdict/psr
OBJECTIVE = "objective"  # a session's session.objective value, under this name everywhere
SESSION = "session"  # session/timesteps, session/train_seconds...
BEST = "best"  # a sweep parent's best trial: best/objective
BEATS_RANDOM = "beats_random_share"  # val/agent/beats_random_share


def metric_key(split: str, policy: str, metric: str) -> str:
    """``metric_key("val", "agent", "sharpe") == "val/agent/sharpe"``; a part that is empty
    or holds the separator is refused (it would make a key that does not parse back)."""
    for part in (split, policy, metric):
        if not part or SEP in part:
            raise ValueError(f"metric key part {part!r} must be non-empty and free of '{SEP}'")
    return f"{split}{SEP}{policy}{SEP}{metric}"


def parse_metric_key(key: str) -> tuple[str, str, str]:
    """(split, policy, metric) of a `metric_key`; ValueError naming the key otherwise."""
    parts = key.split(SEP)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"'{key}' is not a metric key <split>/<policy>/<metric>")
    return parts[0], parts[1], parts[2]


def session_key(name: str) -> str:
    """``session/timesteps``: a figure of the session itself, not of a split."""
    return f"{SESSION}{SEP}{name}"


def best_key(name: str) -> str:
    """``best/objective``: a sweep parent run's figure of its best trial."""
    return f"{BEST}{SEP}{name}"


def objective_parts(objective: str) -> tuple[str, str]:
    """(split, metric) of a ``session.objective``: ``val.sharpe`` or, the same metric,
    ``val/agent/sharpe`` (the objective is always the agent's). ValueError otherwise."""
    if SEP in objective:
        split, policy, metric = parse_metric_key(objective)
        if policy != AGENT:
            raise ValueError(f"'{objective}' must be the agent's metric (<split>/agent/<metric>)")
        return split, metric
    split, dot, metric = objective.partition(".")
    if not dot or not split or not metric or "." in metric:
        raise ValueError(f"'{objective}' must be <split>.<metric> or <split>/agent/<metric>")
    return split, metric


def objective_key(objective: str) -> str:
    """The metric key a ``session.objective`` names: ``val.sharpe`` -> ``val/agent/sharpe``."""
    split, metric = objective_parts(objective)
    return metric_key(split, AGENT, metric)


def flat_metrics(nested: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """{split: {policy: {metric: value}}} -> {"<split>/<policy>/<metric>": value}."""
    return {
        metric_key(split, policy, metric): value
        for split, policies in nested.items()
        for policy, values in policies.items()
        for metric, value in values.items()
    }


def nest_metrics(flat: Mapping[str, Any]) -> tuple[dict[str, dict[str, dict[str, Any]]], dict]:
    """The inverse of `flat_metrics`: ({split: {policy: {metric: value}}}, the other keys
    (``objective``, ``session/timesteps``...) as they are)."""
    nested: dict[str, dict[str, dict[str, Any]]] = {}
    rest: dict[str, Any] = {}
    for key, value in flat.items():
        try:
            split, policy, metric = parse_metric_key(key)
        except ValueError:
            rest[key] = value
            continue
        nested.setdefault(split, {}).setdefault(policy, {})[metric] = value
    return nested, rest
