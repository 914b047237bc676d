"""A walk-forward study, start to finish: trials over folds x seeds, selection, held-out test.

    search.ask -> for each fold: k sessions (one per seed) -> running score -> prune?
               -> stitched score across seeds -> search.tell          (n_trials times)
    select the best finished trial by score (folds only)
    retrain it on the chronological train split, k seeds, evaluate on the test span ONCE

Selection reads fold test windows only; the held-out sessions are made in one place
(`_held_out`), for the selected trial only, after the search is over. A trial whose
session fails (a bad hyperparameter value) or that is pruned keeps the folds it completed
(every seed) as its partial out-of-sample record and its status.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import pandas as pd

from qraptor.core.errors import ConfigError
from qraptor.core.log import get_logger
from qraptor.study.config import StudyConfig
from qraptor.study.folds import Layout
from qraptor.study.search import FAILED, FINISHED, PRUNED, Proposal, Search, make_search, plain
from qraptor.study.sessions import (
    SessionOutcome,
    SessionSpec,
    bar_returns,
    session_config,
    study_benchmark,
)
from qraptor.study.stitch import bar_sharpe, seed_average, seed_score, stitch

log = get_logger(__name__)


class Runner(Protocol):
    """Trains sessions somewhere; `parallel`: whether a batch's sessions run together."""

    parallel: bool

    def run(
        self,
        specs: Sequence[SessionSpec],
        on_done: Callable[[SessionOutcome], None] | None = None,
    ) -> list[SessionOutcome]: ...


def new_study_id(name: str) -> str:
    """Readable and time-sorted: study-<name>-20261202-071500-3fa9c2 (the MLflow sweep id)."""
    return f"study-{name}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class TrialRecord:
    """One trial: its configuration, status, per-fold and stitched results."""

    number: int
    params: dict[str, Any]
    status: str = FINISHED
    error: str | None = None
    folds_done: list[int] = field(default_factory=list)
    fold_sharpes: dict[int, dict[int, float]] = field(default_factory=dict)  # fold -> seed
    fold_returns: dict[int, dict[int, pd.Series]] = field(default_factory=dict)  # fold -> seed
    baseline_returns: dict[int, pd.DataFrame] = field(default_factory=dict)  # fold -> frame
    score: float = math.nan  # finished trials only: the selection criterion
    running_score: float = math.nan  # over the folds done (what pruning saw)

    def seed_returns(self) -> dict[int, pd.Series]:
        """Per seed, the stitched out-of-sample returns over the folds done."""
        seeds = sorted({s for per_seed in self.fold_returns.values() for s in per_seed})
        return {
            s: stitch([self.fold_returns[k][s].to_frame("r") for k in self.folds_done])["r"]
            for s in seeds
        }

    def returns(self) -> pd.Series:
        """The trial's series: the seeds' stitched returns averaged bar by bar."""
        return seed_average(self.seed_returns())

    def seed_sharpes(self) -> dict[int, float]:
        return {s: bar_sharpe(r) for s, r in self.seed_returns().items()}


@dataclass
class HeldOut:
    """The selected trial on the test span: one session per seed, retrained on train."""

    trial: int
    outcomes: list[SessionOutcome]
    returns: dict[int, pd.Series]  # seed -> per-bar test returns
    baselines: pd.DataFrame | None  # per-bar returns of the baselines on the test span


@dataclass
class StudyResult:
    study_id: str
    cfg: StudyConfig
    layout: Layout
    trials: list[TrialRecord]
    selected: TrialRecord | None
    held_out: HeldOut | None
    sessions: list[dict[str, Any]]  # every session run: trial, fold, seed, splits, status
    benchmark: str = "buy_and_hold"  # the verdicts' (sessions.study_benchmark: 1/N for portfolios)


class Study:
    """Runs `cfg` over `layout`'s folds; sessions start from `base` (a resolved train config)."""

    def __init__(
        self,
        cfg: StudyConfig,
        base: Mapping[str, Any],
        layout: Layout,
        runner: Runner,
        study_id: str,
        on_done: Callable[[SessionOutcome], None] | None = None,
        on_skip: Callable[[int], None] | None = None,
    ) -> None:
        self.cfg, self.base, self.layout, self.runner = cfg, dict(base), layout, runner
        self.study_id = study_id
        self.on_done = on_done  # after each session
        self.on_skip = on_skip  # sessions of a failed or pruned trial that will not run
        self.sessions: list[dict[str, Any]] = []

    @property
    def planned_sessions(self) -> int:
        return (self.cfg.n_trials * len(self.layout.folds) + 1) * self.cfg.seeds

    def run(self) -> StudyResult:
        search = make_search(self.cfg)
        trials = []
        for _ in range(self.cfg.n_trials):
            proposal = search.ask()
            record = self._trial(proposal, search)
            search.tell(proposal, record.status, record.score)
            trials.append(record)
            log.info(
                "study %s: trial %d %s, score %s", self.cfg.name, record.number, record.status,
                f"{record.score:.4g}" if math.isfinite(record.score) else "n/a",
            )  # fmt: skip
        selected = select(trials)
        held_out = self._held_out(selected) if selected is not None else None
        if selected is None and self.on_skip is not None:  # the test span stays untouched
            self.on_skip(self.cfg.seeds)
        return StudyResult(
            self.study_id, self.cfg, self.layout, trials, selected, held_out, self.sessions,
            study_benchmark(self.base),
        )  # fmt: skip

    def _specs(self, proposal: Proposal, fold: int | None) -> list[SessionSpec]:
        return [
            SessionSpec(
                self.study_id,
                proposal.number,
                fold,
                seed,
                session_config(
                    self.base,
                    proposal.params,
                    study_id=self.study_id,
                    name=self.cfg.name,
                    trial=proposal.number,
                    fold=fold,
                    seed=seed,
                ),
            )
            for seed in self.cfg.seed_list
        ]

    def _run(self, specs: list[SessionSpec]) -> list[SessionOutcome]:
        outcomes = self.runner.run(specs, self.on_done)
        for outcome in outcomes:
            self.sessions.append(
                {
                    **outcome.spec.describe(),
                    "status": outcome.status,
                    "error": outcome.error,
                    "seconds": round(outcome.seconds, 3),
                    "run": outcome.run,
                }
            )
        return outcomes

    def _trial(self, proposal: Proposal, search: Search) -> TrialRecord:
        record = TrialRecord(proposal.number, plain(proposal.params))
        try:
            specs = [self._specs(proposal, fold.number) for fold in self.layout.folds]
        except ConfigError as exc:  # a space key the session config does not have
            record.status, record.error = FAILED, f"ConfigError: {exc}"
            specs = []
        for step, outcomes in enumerate(self._fold_outcomes(specs)):
            failed = [o for o in outcomes if not o.succeeded]
            if failed:
                record.status, record.error = FAILED, failed[0].error
                break
            self._add_fold(record, self.layout.folds[step].number, outcomes)
            record.running_score = seed_score(
                list(record.seed_sharpes().values()), self.cfg.score, self.cfg.confidence
            )
            last = step == len(self.layout.folds) - 1
            if not last and search.report(proposal, step, record.running_score):
                record.status = PRUNED
                break
        if record.status == FINISHED:
            record.score = record.running_score
        planned = len(self.layout.folds) * self.cfg.seeds
        ran = sum(1 for s in self.sessions if s["trial"] == record.number)
        if self.on_skip is not None and planned > ran:
            self.on_skip(planned - ran)
        return record

    def _fold_outcomes(self, specs: list[list[SessionSpec]]) -> Iterator[list[SessionOutcome]]:
        """Each fold's outcomes, in fold order. One fold at a time (a failure or a pruning
        decision stops the rest), or every fold at once for a runner whose sessions run in
        parallel (the queue: workers take them together) when nothing is pruned."""
        if self.runner.parallel and not self.cfg.prune:
            flat = self._run([spec for fold in specs for spec in fold])
            k = self.cfg.seeds
            yield from (flat[i : i + k] for i in range(0, len(flat), k))
            return
        for fold in specs:
            yield self._run(fold)

    @staticmethod
    def _add_fold(record: TrialRecord, fold: int, outcomes: list[SessionOutcome]) -> None:
        record.folds_done.append(fold)
        record.fold_returns[fold], record.fold_sharpes[fold] = {}, {}
        for outcome in outcomes:
            assert outcome.equity is not None  # succeeded
            returns = bar_returns(outcome.equity)
            record.fold_returns[fold][outcome.spec.seed] = returns["agent"]
            record.fold_sharpes[fold][outcome.spec.seed] = bar_sharpe(returns["agent"])
            if fold not in record.baseline_returns:
                record.baseline_returns[fold] = _seedless_baselines(returns)

    def _held_out(self, selected: TrialRecord) -> HeldOut:
        """The one place sessions touch the test span: the selected trial, once."""
        proposal = Proposal(selected.number, selected.params)
        outcomes = self._run(self._specs(proposal, None))
        returns, baselines = {}, None
        for outcome in outcomes:
            if outcome.succeeded and outcome.equity is not None:
                frame = bar_returns(outcome.equity)
                returns[outcome.spec.seed] = frame["agent"]
                if baselines is None:
                    baselines = _seedless_baselines(frame)
        return HeldOut(selected.number, outcomes, returns, baselines)


def _seedless_baselines(returns: pd.DataFrame) -> pd.DataFrame:
    """The baselines whose returns do not depend on the session's seed (buy-and-hold, flat,
    the MA crossover): one seed's are every seed's. Random policies are left out."""
    return returns[[c for c in returns.columns if c != "agent" and not c.startswith("random")]]


def select(trials: Sequence[TrialRecord]) -> TrialRecord | None:
    """The finished trial with the highest score (the first of equals); None if none."""
    finished = [t for t in trials if t.status == FINISHED and math.isfinite(t.score)]
    return max(finished, key=lambda t: t.score) if finished else None
