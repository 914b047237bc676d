"""A session's summary: one shape, built once, kept everywhere a session's result is kept.

The trainer writes it as the run folder's `metrics.json`; the worker stores it on the session
document (with where and how it was trained added: resumed steps, timings, worker); the trial
ledger stores it per trial of an in-process sweep; `qraptor evaluate`, `qraptor compare`, the
dashboard and the notebooks read it. Every metric of the agent and of every baseline is kept
per split (a comparison may rank on any of them: `beat_metric=sortino`), with the random
policy's Sharpe ratios and the share of them the agent beats.

    {
      "objective": 0.41, "objective_metric": "val.sharpe",
      "timesteps": 200704, "stopped_early": false,
      "selected": {"model": "final", "timesteps": 200704,      (session.select; null if
                   "validation": {"metric": "sharpe",           stopped early)
                                  "evaluations": 11, "best_timesteps": 140000,
                                  "best_value": 0.52}},
      "seconds": 41.2, "timesteps_per_second": 4871.3, "eval_seconds": 3.1,
      "splits": {
        "val": {"agent": {...every metric...},
                "baselines": {"buy_and_hold": {...every metric...}, ...},
                "random_sharpes": [...one per random run...],
                "agent_beats_random_share": 0.75,
                "verdict": {"edge": false, "psr": 0.41, ..., "text": "no evidence of..."},
                "portfolio": {"diagnostics": {...}, "versus": [...]}},  (portfolio sessions)
        ...
      }
    }

The run folder's metrics.json is the summary without the wall-clock figures (seconds,
timesteps_per_second, eval_seconds, validation_seconds): it is part of the train stage's
DVC output, whose hash must be the same on every rerun of the same session; they go to
timings.json next to it
(`session_timings`; .dvcignore keeps it out of the hash). Everywhere else (the session
document, the ledger, MLflow) the summary keeps them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from qraptor.core.numbers import json_number, json_safe

if TYPE_CHECKING:
    from qraptor.train.result import TrainResult


def beats_random_share(
    agent_sharpe: float | None, random_sharpes: Sequence[float | None]
) -> float | None:
    """Share of the random-policy runs whose Sharpe ratio the agent's is above (None when
    either side is missing or not finite)."""
    sharpes = [s for s in random_sharpes if s is not None and math.isfinite(s)]
    if agent_sharpe is None or not math.isfinite(agent_sharpe) or not sharpes:
        return None
    return sum(agent_sharpe > s for s in sharpes) / len(sharpes)


def session_timings(result: TrainResult) -> dict[str, float]:
    """The session's wall-clock figures: they differ on every run of the same session."""
    return {
        "seconds": round(result.seconds, 3),
        "timesteps_per_second": round(result.timesteps_per_second, 1),
        "eval_seconds": round(result.eval_seconds, 3),
        "validation_seconds": round(result.validation_seconds, 3),
    }


def session_summary(
    result: TrainResult, objective_metric: str, timings: bool = True
) -> dict[str, Any]:
    """The summary of a trained (or stopped) session, JSON-ready (non-finite numbers: null);
    `timings=False`: without the wall-clock figures (the run folder's metrics.json)."""
    splits: dict[str, Any] = {}
    for split, metrics in result.metrics.items():
        random_sharpes = [json_number(s) for s in result.random_sharpes.get(split, [])]
        splits[split] = {
            "agent": json_safe(metrics),
            "baselines": {k: json_safe(v) for k, v in result.baselines.get(split, {}).items()},
            "random_sharpes": random_sharpes,
            "agent_beats_random_share": beats_random_share(metrics.get("sharpe"), random_sharpes),
            "verdict": result.verdicts.get(split),  # evaluation.verdict.Verdict.to_dict()
        }
        if split in result.portfolio:  # weights diagnostics, the agent against 1/N and B&H
            splits[split]["portfolio"] = result.portfolio[split]
    return {
        "objective": json_number(result.objective),
        "objective_metric": objective_metric,
        "timesteps": int(result.timesteps),
        "stopped_early": bool(result.stopped_early),
        "selected": dict(result.selected) or None,  # plain ints, strings, finite floats
        **(session_timings(result) if timings else {}),
        "splits": splits,
    }
