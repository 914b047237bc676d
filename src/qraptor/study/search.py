"""Where a study's trials come from: one configuration, a grid, or Optuna's ask/tell.

Optuna is driven directly (ask, report per fold, tell), not through Hydra's sweeper: a
trial here is folds x seeds sessions scored together, which no Hydra job is, and the
budget (`n_trials`) counts failed and pruned trials like finished ones. TPE is seeded
(`sampler_seed`), so the same study proposes the same trials.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qraptor.study.config import DistributionConfig, StudyConfig

FINISHED, FAILED, PRUNED = "finished", "failed", "pruned"


@dataclass
class Proposal:
    number: int
    params: dict[str, Any]
    handle: Any = None  # optuna.trial.Trial under search=optuna


class Search:
    """search=none (one trial, the sessions' own config) and search=grid (in order)."""

    def __init__(self, cfg: StudyConfig) -> None:
        self.cfg = cfg
        self.asked = 0

    def ask(self) -> Proposal:
        params = dict((self.cfg.grid or [])[self.asked]) if self.cfg.search == "grid" else {}
        self.asked += 1
        return Proposal(self.asked - 1, params)

    def report(self, proposal: Proposal, step: int, value: float) -> bool:
        """The running score after fold number `step`; True when the trial should stop."""
        return False

    def tell(self, proposal: Proposal, status: str, score: float) -> None:
        pass


class OptunaSearch(Search):
    """search=optuna: TPE proposals over `space`, optional median pruning after each fold."""

    def __init__(self, cfg: StudyConfig) -> None:
        super().__init__(cfg)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(
            seed=cfg.sampler_seed, n_startup_trials=cfg.n_startup_trials
        )
        pruner: optuna.pruners.BasePruner = (
            optuna.pruners.MedianPruner(n_startup_trials=cfg.prune_startup_trials, n_warmup_steps=0)
            if cfg.prune
            else optuna.pruners.NopPruner()
        )
        self.study = optuna.create_study(
            study_name=cfg.name, direction="maximize", sampler=sampler, pruner=pruner
        )

    def ask(self) -> Proposal:
        trial = self.study.ask()
        params = {key: _suggest(trial, key, dist) for key, dist in (self.cfg.space or {}).items()}
        self.asked += 1
        return Proposal(trial.number, params, trial)

    def report(self, proposal: Proposal, step: int, value: float) -> bool:
        if not math.isfinite(value):
            return False
        proposal.handle.report(value, step)
        return bool(proposal.handle.should_prune())

    def tell(self, proposal: Proposal, status: str, score: float) -> None:
        from optuna.trial import TrialState

        if status == FINISHED and math.isfinite(score):
            self.study.tell(proposal.handle, score)
        elif status == PRUNED:
            self.study.tell(proposal.handle, state=TrialState.PRUNED)
        else:
            self.study.tell(proposal.handle, state=TrialState.FAIL)


def _suggest(trial: Any, key: str, dist: DistributionConfig) -> Any:
    if dist.type == "categorical":
        return trial.suggest_categorical(key, list(dist.choices or []))
    assert dist.low is not None and dist.high is not None  # DistributionConfig checks
    if dist.type == "int":
        step = int(dist.step) if dist.step is not None else 1
        return trial.suggest_int(key, int(dist.low), int(dist.high), step=step, log=dist.log)
    return trial.suggest_float(key, dist.low, dist.high, step=dist.step, log=dist.log)


def make_search(cfg: StudyConfig) -> Search:
    return OptunaSearch(cfg) if cfg.search == "optuna" else Search(cfg)


def plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params as JSON-ready values (numpy scalars from a sampler become Python numbers)."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}
