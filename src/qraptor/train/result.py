"""What a trained session produced (the trainer's return value), apart from the trainer so that
the summary, tracking and the worker can name it without importing stable-baselines3."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainResult:
    """What a session produced. Paths are inside the `out_dir` given to `train_session`."""

    model_path: Path  # the selected model (final or best_val), the last checkpoint if stopped
    timesteps: int  # the model's timestep count (may pass the total by < one rollout)
    stopped_early: bool  # should_stop ended training: not evaluated, resume from model_path
    metrics: dict[str, dict[str, float]]  # split -> agent metrics
    baselines: dict[str, dict[str, dict[str, float]]]  # split -> baseline -> metrics
    trade_logs: dict[str, Path]  # split -> trades.csv
    equity: dict[str, Path]  # split -> equity.csv
    seconds: float  # wall time of learning in this call
    timesteps_per_second: float  # timesteps learned in this call / seconds
    eval_seconds: float = 0.0
    objective: float | None = None  # session.objective's value (None if not evaluated)
    checkpoints: list[Path] = field(default_factory=list)
    random_sharpes: dict[str, list[float]] = field(default_factory=dict)  # split -> per run
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # split -> Verdict.to_dict
    # which model was evaluated (session.select): {"model": "final" | "best_val",
    # "timesteps": its count, "validation": {metric, evaluations, best_timesteps, best_value}}
    selected: dict[str, Any] = field(default_factory=dict)
    validation_seconds: float = 0.0  # wall time of the in-training validations (this call)
    validations: int = 0  # rows of validation.csv (restored ones included)
    # a portfolio session's: split -> {"diagnostics": policy -> figures, "versus": [...]}
    portfolio: dict[str, dict[str, Any]] = field(default_factory=dict)
