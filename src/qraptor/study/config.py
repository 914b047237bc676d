"""Schema of conf/study (a walk-forward study): types and ranges only; values live in conf/.

Every range is checked before any session trains, with the dotted key named
(``study.space.algo.learning_rate.low``): a study that would fail after an hour of training
because of a typo in its search space fails at once instead.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from omegaconf import DictConfig

from qraptor.core.config import check, compose_command, to_schema

STUDY_CONFIG = "study"  # conf/study.yaml, the command's root
SCORES = ("median", "lcb")
RUNNERS = ("process", "queue")
SEARCHES = ("none", "grid", "optuna")
DISTRIBUTIONS = ("float", "int", "categorical")


@dataclass
class DistributionConfig:
    """One key of the search space: float/int in [low, high] (log scale, step), or choices."""

    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None

    def __post_init__(self) -> None:
        check(self.type in DISTRIBUTIONS, "type", f"valid: {', '.join(DISTRIBUTIONS)}")
        if self.type == "categorical":
            check(bool(self.choices), "choices", "a categorical distribution needs choices")
            return
        check(self.low is not None, "low", f"a {self.type} distribution needs low")
        check(self.high is not None, "high", f"a {self.type} distribution needs high")
        assert self.low is not None and self.high is not None
        check(math.isfinite(self.low) and math.isfinite(self.high), "low", "must be finite")
        check(self.low < self.high, "high", f"must be above low ({self.low:g})")
        check(not self.log or self.low > 0, "low", "must be > 0 on a log scale")
        check(self.step is None or self.step > 0, "step", "must be > 0 or null")
        check(not (self.log and self.step is not None), "step", "cannot combine with log")
        if self.type == "int":
            check(float(self.low).is_integer(), "low", "must be an integer")
            check(float(self.high).is_integer(), "high", "must be an integer")


@dataclass
class QueueConfig:
    """runner=queue: how the study's sessions are queued and waited for."""

    priority: int
    poll_seconds: float
    timeout_seconds: float | None
    max_attempts: int | None

    def __post_init__(self) -> None:
        check(self.poll_seconds > 0, "queue.poll_seconds", "must be > 0")
        check(
            self.timeout_seconds is None or self.timeout_seconds > 0,
            "queue.timeout_seconds",
            "must be > 0 or null",
        )
        check(
            self.max_attempts is None or self.max_attempts >= 1,
            "queue.max_attempts",
            "must be >= 1",
        )


@dataclass
class StudyConfig:
    """conf/study/<file>.yaml: folds x seeds, the score, the runner, the search."""

    name: str
    folds: list[int] | None
    seeds: int
    first_seed: int
    score: str
    confidence: float
    runner: str
    search: str
    n_trials: int
    sampler_seed: int
    n_startup_trials: int
    prune: bool
    prune_startup_trials: int
    out_dir: str
    queue: QueueConfig
    space: dict[str, DistributionConfig] | None = None  # null in conf/: a dict replaces it
    grid: list[dict[str, Any]] | None = None
    overrides: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # conf/ leaves them null (Hydra cannot override an empty dict); code sees containers
        self.space = dict(self.space or {})
        self.grid = list(self.grid or [])
        check(bool(self.name.strip()) and "/" not in self.name, "name", "a non-empty name, no /")
        check(self.seeds >= 1, "seeds", "must be >= 1")
        check(self.first_seed >= 0, "first_seed", "must be >= 0")
        if self.folds is not None:
            check(bool(self.folds), "folds", "list at least one fold, or null for every fold")
            check(min(self.folds) >= 0, "folds", "fold numbers are >= 0")
            check(len(set(self.folds)) == len(self.folds), "folds", "has duplicates")
        check(self.score in SCORES, "score", f"valid: {', '.join(SCORES)}")
        check(0.5 < self.confidence < 1, "confidence", "must be in (0.5, 1)")
        check(
            self.score != "lcb" or self.seeds >= 2,
            "score",
            "lcb is a bound across seeds: it needs seeds >= 2 (or score=median)",
        )
        check(self.runner in RUNNERS, "runner", f"valid: {', '.join(RUNNERS)}")
        check(self.search in SEARCHES, "search", f"valid: {', '.join(SEARCHES)}")
        check(self.n_trials >= 1, "n_trials", "must be >= 1")
        check(self.n_startup_trials >= 0, "n_startup_trials", "must be >= 0")
        check(self.prune_startup_trials >= 0, "prune_startup_trials", "must be >= 0")
        check(bool(str(self.out_dir).strip()), "out_dir", "must name a folder")
        if self.search == "none":
            check(self.n_trials == 1, "n_trials", "search=none runs one configuration: use 1")
            check(not self.space, "space", "is for search=optuna (search=none has no space)")
            check(not self.grid, "grid", "is for search=grid (search=none has no grid)")
        if self.search == "grid":
            check(bool(self.grid), "grid", "search=grid needs a list of configurations")
            check(
                self.n_trials <= len(self.grid),
                "n_trials",
                f"the grid has {len(self.grid)} configurations; the budget cannot exceed it",
            )
            check(not self.space, "space", "is for search=optuna, not grid")
        if self.search == "optuna":
            check(bool(self.space), "space", "search=optuna needs a space: key -> distribution")
            check(not self.grid, "grid", "is for search=grid, not optuna")
        check(not (self.prune and self.search != "optuna"), "prune", "needs search=optuna")

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def study_config_from(composed: DictConfig) -> StudyConfig:
    """The `study` section of a composed conf/study.yaml, validated."""
    return to_schema(composed.study, StudyConfig, "study")


def compose_study(overrides: list[str]) -> DictConfig:
    """conf/study.yaml with `overrides` (a key outside every group is a `study` key)."""
    return compose_command(STUDY_CONFIG, overrides, "study")
