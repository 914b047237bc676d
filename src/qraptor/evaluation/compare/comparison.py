"""Comparing runs: config differences, statistics across seeds, the deflated Sharpe of a sweep.

Pure analysis of `RunRecord`s (a session document, or a trial of an in-process sweep from
the ledger, as plain data); reading them from MongoDB is qraptor.store.ledger's job and
showing them is compare_table.py (terminal) and compare_html.py (offline HTML). Three views:

* per run: the config keys in which the compared runs differ, the agent's metrics on the
  compared split (and the Sharpe on the other splits), the baseline's Sharpe;
* per group of repeats (runs whose configs differ only in `seed_keys`): mean, IQM and their
  stratified-bootstrap CIs of each metric, with folds (`stratum_keys`) as strata, and
  P(agent beats the baseline) over the paired runs;
* for a sweep: PSR(0) and the deflated Sharpe ratio of the best run, with N = every trial
  of the sweep (queued, running, failed included) and V[SR] over the finished ones, and the
  best run's verdict (evaluation.verdict) with that DSR in its rule.

Next to every Sharpe ratio of the runs table stands its PSR(0) (`psr` columns), computed
from the run's stored per-bar moments.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from qraptor.evaluation.compare.config import CompareConfig
from qraptor.evaluation.metric_names import AGENT, metric_key, parse_metric_key
from qraptor.evaluation.statistics import (
    FEW_RUNS,
    Interval,
    ReturnMoments,
    RunSummary,
    SweepSignificance,
    equity_moments,
    probability_of_improvement,
    summarize_runs,
    sweep_significance,
)
from qraptor.evaluation.verdict import (
    Verdict,
    judge_stored_curves,
    over_trials,
    sharpe_psr,
)

# (record, split) -> one row per bar: timestamp, agent, close, position and baseline equity
EquityLoader = Callable[["RunRecord", str], pd.DataFrame | None]
MOMENT_KEYS = ("sharpe_per_bar", "skewness", "kurtosis", "bars")
PSR = "psr"  # the column beside each Sharpe ratio


@dataclass(frozen=True)
class RunRecord:
    """One run as the comparison sees it (a session document or a ledger trial)."""

    id: str
    status: str  # a qraptor.store.Status value
    config: Mapping[str, Any]  # resolved session / algo / env sections
    metrics: Mapping[str, Any] | None  # {"objective", "splits": {split: {"agent", "baselines"}}}
    source: str = "session"  # session (the store's queue) | trial (an in-process sweep)
    sweep_id: str | None = None
    experiment: str = "default"
    mlflow_run_id: str | None = None
    created_at: datetime | None = None
    error: str | None = None

    def agent(self, split: str) -> Mapping[str, Any] | None:
        return ((self.metrics or {}).get("splits") or {}).get(split, {}).get("agent")

    def baseline(self, split: str, name: str) -> Mapping[str, Any] | None:
        split_metrics = ((self.metrics or {}).get("splits") or {}).get(split, {})
        return (split_metrics.get("baselines") or {}).get(name)

    def value(self, split: str, metric: str, baseline: str | None = None) -> float:
        """A metric of the agent (or of `baseline`) on `split`; NaN when not there. `psr`:
        PSR(0) of its Sharpe ratio, from the per-bar moments."""
        source = self.agent(split) if baseline is None else self.baseline(split, baseline)
        value = (source or {}).get(metric)
        if metric == PSR and value is None and source:
            value = sharpe_psr(source)
        return float(value) if isinstance(value, int | float) else math.nan

    def verdict(self, split: str) -> Mapping[str, Any] | None:
        """The session summary's verdict on `split` (Verdict.to_dict), if it has one."""
        split_metrics = ((self.metrics or {}).get("splits") or {}).get(split, {})
        verdict = split_metrics.get("verdict")
        return verdict if isinstance(verdict, Mapping) else None


@dataclass
class RunRow:
    record: RunRecord
    params: dict[str, Any]  # the varying config keys' values in this run
    values: dict[str, float]  # column label -> value (NaN: not evaluated)


@dataclass
class GroupSummary:
    label: str  # the config keys that set this group apart
    params: dict[str, Any]
    run_ids: list[str]
    metrics: dict[str, RunSummary]
    beats_baseline: Interval


@dataclass
class Comparison:
    title: str
    split: str
    baseline: str
    records: list[RunRecord]
    varying: list[str]  # config keys whose values differ between the compared runs
    columns: list[str]
    rows: list[RunRow]
    groups: list[GroupSummary]
    status_counts: dict[str, int]
    sweep: SweepSignificance | None = None
    best: RunRecord | None = None
    verdict: Verdict | None = None  # the best run's, deflated by the sweep's trials
    notes: list[str] = field(default_factory=list)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"algo": {"gamma": 0.99}} -> {"algo.gamma": 0.99}; lists become JSON text."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(list(value), default=str)
        else:
            flat[name] = value
    return flat


def varying_keys(configs: Sequence[Mapping[str, Any]], ignore: Sequence[str] = ()) -> list[str]:
    """Dotted keys whose values are not the same in every config (a missing key differs)."""
    flats = [flatten(c) for c in configs]
    keys = sorted({k for f in flats for k in f} - set(ignore))
    missing = object()
    return [k for k in keys if len({repr(f.get(k, missing)) for f in flats}) > 1]


def columns_of(cfg: CompareConfig) -> list[str]:
    """The runs table's columns, named as in MLflow and the DVC metrics file
    (evaluation.metric_names): `cfg.metrics` of the agent on the split, its Sharpe ratio on
    the others, the baseline's; every Sharpe ratio followed by its PSR(0)."""
    split = cfg.split
    shown = [metric_key(split, AGENT, m) for m in cfg.metrics]
    shown += [metric_key(s, AGENT, "sharpe") for s in cfg.also_show if s != split]
    shown.append(metric_key(split, cfg.baseline, "sharpe"))
    return [c for column in shown for c in (column, *_psr_of(column))]


def _psr_of(column: str) -> tuple[str, ...]:
    split, policy, metric = parse_metric_key(column)
    return (metric_key(split, policy, PSR),) if metric == "sharpe" else ()


def _column_value(record: RunRecord, column: str) -> float:
    split, policy, metric = parse_metric_key(column)
    return record.value(split, metric, baseline=None if policy == AGENT else policy)


def compare_runs(
    records: Sequence[RunRecord],
    cfg: CompareConfig,
    *,
    title: str,
    sweep: bool = False,
    load_equity: EquityLoader | None = None,
) -> Comparison:
    """The comparison of `records` on `cfg.split`; with `sweep`, every record is one trial
    of the sweep and the best finished one is deflated by all of them."""
    records = list(records)
    varying = varying_keys([r.config for r in records], cfg.ignore_keys)
    columns = columns_of(cfg)
    rows = [
        RunRow(
            r,
            {k: flatten(r.config).get(k) for k in varying},
            {c: _column_value(r, c) for c in columns},
        )
        for r in records
    ]
    finished = [r for r in records if math.isfinite(r.value(cfg.split, "sharpe"))]
    comparison = Comparison(
        title=title,
        split=cfg.split,
        baseline=cfg.baseline,
        records=records,
        varying=varying,
        columns=columns,
        rows=rows,
        groups=group_runs(finished, cfg, varying),
        status_counts=dict(Counter(r.status for r in records)),
    )
    if not finished:
        comparison.notes.append(f"no run has metrics on the '{cfg.split}' split yet")
    if (note := few_runs_note(comparison.groups)) is not None:
        comparison.notes.append(note)
    if sweep and finished:
        _deflate(comparison, finished, len(records), cfg.split, load_equity)
    return comparison


def group_runs(
    finished: Sequence[RunRecord], cfg: CompareConfig, varying: Sequence[str]
) -> list[GroupSummary]:
    """Runs grouped by their config without seeds and folds, each group summarised."""
    repeat_keys = {*cfg.seed_keys, *cfg.stratum_keys, *cfg.ignore_keys}
    by_config: dict[str, list[RunRecord]] = {}
    for record in finished:
        flat = flatten(record.config)
        key = json.dumps({k: v for k, v in flat.items() if k not in repeat_keys}, default=str)
        by_config.setdefault(key, []).append(record)
    shown = [k for k in varying if k not in repeat_keys]
    groups = []
    for members in by_config.values():
        params = {k: flatten(members[0].config).get(k) for k in shown}
        label = ", ".join(f"{k}={_short(v)}" for k, v in params.items()) or "all runs"
        groups.append(_summarise(members, params, label, cfg))
    return sorted(groups, key=lambda g: -_sort_value(g.metrics.get("sharpe")))


def _summarise(
    members: list[RunRecord], params: dict[str, Any], label: str, cfg: CompareConfig
) -> GroupSummary:
    boot: dict[str, Any] = {"reps": cfg.bootstrap.reps, "confidence": cfg.bootstrap.confidence}
    seed = cfg.bootstrap.seed
    strata: dict[str, list[RunRecord]] = {}
    for record in members:
        flat = flatten(record.config)
        strata.setdefault(repr([flat.get(k) for k in cfg.stratum_keys]), []).append(record)
    metrics = {
        metric: summarize_runs(
            {s: [r.value(cfg.split, metric) for r in rs] for s, rs in strata.items()},
            seed=seed,
            **boot,
        )
        for metric in cfg.metrics
    }
    agent, base = {}, {}
    for stratum, rs in strata.items():
        pairs = [
            (r.value(cfg.split, cfg.beat_metric), r.value(cfg.split, cfg.beat_metric, cfg.baseline))
            for r in rs
        ]
        pairs = [(a, b) for a, b in pairs if math.isfinite(a) and math.isfinite(b)]
        if pairs:
            agent[stratum], base[stratum] = [a for a, _ in pairs], [b for _, b in pairs]
    beats = probability_of_improvement(agent, base, seed=seed, **boot)
    return GroupSummary(label, params, [r.id for r in members], metrics, beats)


def few_runs_note(groups: Sequence[GroupSummary]) -> str | None:
    """One caveat for the groups with too few runs for a bootstrap interval (None if none)."""
    few = [g for g in groups if any(s.note for s in g.metrics.values())]
    if not few:
        return None
    return (
        f"{len(few)} group(s) have 2-{FEW_RUNS - 1} runs: read the mean's t-interval; an IQM "
        "bootstrap interval over so few runs is too narrow"
    )


def _deflate(
    comparison: Comparison,
    finished: list[RunRecord],
    n_trials: int,
    split: str,
    load_equity: EquityLoader | None,
) -> None:
    """PSR and DSR of the best finished trial (by Sharpe on `split`)."""
    best = max(finished, key=lambda r: r.value(split, "sharpe"))
    comparison.best = best
    moments = stored_moments(best, split)
    if moments is None and load_equity is not None:
        frame = load_equity(best, split)
        if frame is not None and "agent" in frame:
            moments = equity_moments(frame["agent"].to_numpy())
    if moments is None:
        comparison.notes.append(
            f"deflated Sharpe: n/a (no return moments or equity curve stored for {best.id})"
        )
        return
    sharpes = per_bar_sharpes(finished, split, best, moments)
    comparison.sweep = sweep_significance(moments, sharpes, n_trials)
    comparison.verdict = best_verdict(best, split, comparison.sweep, load_equity)
    if comparison.verdict is None:
        comparison.notes.append(f"verdict: n/a ({best.id} has no verdict or equity curve)")
    if len(sharpes) < len(finished):
        comparison.notes.append(
            f"{len(finished) - len(sharpes)} finished trials lack a per-bar Sharpe ratio and "
            "are left out of V[SR] (still counted in N)"
        )


def best_verdict(
    best: RunRecord,
    split: str,
    sweep: SweepSignificance,
    load_equity: EquityLoader | None,
) -> Verdict | None:
    """The best run's verdict with the sweep's DSR over its N trials in the rule: the stored
    one (the session summary's), else judged from its equity curves (a run stored before
    verdicts existed)."""
    stored = best.verdict(split)
    if stored is not None:
        alone: Verdict | None = Verdict.from_dict(split, stored)
    else:
        frame = load_equity(best, split) if load_equity is not None else None
        sharpe = best.value(split, "sharpe")
        alone = None if frame is None else judge_stored_curves(frame, split=split, sharpe=sharpe)
    if alone is None:
        return None
    return over_trials(alone, sweep.n_trials, sweep.dsr)


def stored_moments(record: RunRecord, split: str) -> ReturnMoments | None:
    """Return moments kept with the run's metrics (the ledger stores them), if any."""
    agent = record.agent(split) or {}
    if not all(isinstance(agent.get(k), int | float) for k in MOMENT_KEYS):
        return None
    return ReturnMoments(
        float(agent["sharpe_per_bar"]),
        float(agent["skewness"]),
        float(agent["kurtosis"]),
        int(agent["bars"]),
    )


def per_bar_sharpes(
    finished: Sequence[RunRecord], split: str, best: RunRecord, best_moments: ReturnMoments
) -> list[float]:
    """Per-bar Sharpe ratio of every finished trial: stored, else the annualised one over
    sqrt(bars a year), that factor read off the best trial (annualised / per-bar Sharpe)
    since the trials of a sweep share a dataset and so their annualisation."""
    best_annual = best.value(split, "sharpe")
    scale = best_annual / best_moments.sharpe if best_moments.sharpe else math.nan
    sharpes = []
    for record in finished:
        stored = (record.agent(split) or {}).get("sharpe_per_bar")
        if record is best:
            sharpes.append(best_moments.sharpe)
        elif isinstance(stored, int | float):
            sharpes.append(float(stored))
        elif math.isfinite(scale) and scale > 0:
            sharpes.append(record.value(split, "sharpe") / scale)
    return sharpes


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _sort_value(summary: RunSummary | None) -> float:
    if summary is None or not math.isfinite(summary.iqm.estimate):
        return -math.inf
    return summary.iqm.estimate
