"""What a session's MLflow run records as params and evaluation metrics, as plain data.

Params are the flattened resolved config (``algo.learning_rate``, ``env.costs.fee_bps``),
scrubbed of secrets first: the run is shared with everyone who can read the tracking
server. Evaluation metrics follow evaluation.metric_names: ``<split>/agent/<metric>`` for
the agent, ``<split>/<baseline>/<metric>`` for its baselines and ``<split>/verdict/<field>``
for each split's verdict (evaluation.verdict: ``edge`` 1 or 0, ``psr``,
``psr_vs_buy_and_hold``, ``t_stat``...; its text is the tag ``qraptor.verdict.<split>``).
The keys are the same for every session and fold, so MLflow's compare view lines them up and
its UI groups the charts by split; the fold is a param (``session.fold``). A search needs
the key in backquotes: ``metrics.`val/agent/sharpe` > 0``.
Nothing here talks to MLflow (runs.py and session_run.py do).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from qraptor.core.redact import scrub
from qraptor.evaluation.metric_names import AGENT, VERDICT, metric_key
from qraptor.evaluation.verdict import Verdict

# MLflow's limits (mlflow.utils.validation): a batch carries at most 100 params or tags and
# 1000 metrics; a param value at most 6000 characters, a key at most 250.
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000
MAX_PARAM_VALUE = 6000
MAX_KEY = 250
# Sections of a composed config that say where things run, not what is trained: they are
# not params (a session stored in MongoDB does not even keep them).
NOT_PARAMS = ("hydra", "store", "tracking", "worker")
TRUNCATED = "...[truncated]"
VERDICT_TAG = "qraptor.verdict"


def flatten_params(config: Mapping[str, Any]) -> dict[str, str]:
    """Dotted key -> string value of every leaf of the training sections, secrets masked.

    Lists become their JSON-like text (``[val, test]``), None becomes ``null``; values longer
    than MLflow accepts are cut with a marker rather than rejected.
    """
    training = {k: v for k, v in config.items() if k not in NOT_PARAMS}
    flat: dict[str, str] = {}
    for key, value in _leaves(scrub(training), ""):
        text = _text(value)
        if len(text) > MAX_PARAM_VALUE:
            text = text[: MAX_PARAM_VALUE - len(TRUNCATED)] + TRUNCATED
        flat[key[:MAX_KEY]] = text
    return flat


def hparam_values(config: Mapping[str, Any]) -> dict[str, bool | int | float | str]:
    """The same leaves as `flatten_params`, typed for TensorBoard's HParams tab (numbers
    stay numbers, so its table sorts and its parallel-coordinates view scales them)."""
    training = {k: v for k, v in config.items() if k not in NOT_PARAMS}
    values: dict[str, bool | int | float | str] = {}
    for key, value in _leaves(scrub(training), ""):
        keep = isinstance(value, bool | int | float | str) and value is not None
        values[key[:MAX_KEY]] = value if keep else _text(value)
    return values


def batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    """`items` in consecutive chunks of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def evaluation_metrics(
    metrics: Mapping[str, Mapping[str, float]],
    baselines: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> dict[str, float]:
    """``val/agent/sharpe``, ``val/buy_and_hold/sharpe``... from a TrainResult's metrics.

    Non-finite values (a Calmar ratio without a drawdown) are left out: MLflow would store
    them, but its compare view and filters treat NaN inconsistently.
    """
    flat: dict[str, float] = {}
    for split, values in metrics.items():
        flat.update(_finite(split, AGENT, values))
        for name, baseline in baselines.get(split, {}).items():
            flat.update(_finite(split, name, baseline))
    return flat


def verdict_metrics(verdicts: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """``val/verdict/edge`` (1/0), ``val/verdict/psr``, ``val/verdict/psr_vs_buy_and_hold``,
    ``val/verdict/t_stat``... from a TrainResult's verdicts (Verdict.to_dict per split), the
    DVC metrics file's names."""
    flat: dict[str, float] = {}
    for split, verdict in verdicts.items():
        numbers = Verdict.from_dict(split, verdict).to_metrics()
        flat.update(
            _finite(split, VERDICT, {k: float(v) for k, v in numbers.items() if v is not None})
        )
    return flat


def verdict_tags(verdicts: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """``qraptor.verdict.val`` -> the verdict's line, per split."""
    return {f"{VERDICT_TAG}.{split}": str(v.get("text", "")) for split, v in verdicts.items()}


def _finite(split: str, policy: str, values: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for key, value in values.items():
        if value is not None and math.isfinite(float(value)):
            out[metric_key(split, policy, key)] = float(value)
    return out


def _leaves(tree: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(tree, Mapping) and tree:
        for key, value in tree.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, tree


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if isinstance(value, Mapping):  # an empty mapping (non-empty ones are flattened)
        return "{}"
    return str(value)
