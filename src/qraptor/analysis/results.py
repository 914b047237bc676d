"""Results of trained agents as frames: one run of the DVC pipeline, or sessions and sweeps
from the session store, all through `qraptor compare`'s own analysis.

Either source becomes `Results`: the `Comparison` that qraptor.evaluation.compare computes
(runs, groups of seeds with IQM and bootstrap CIs, the sweep's deflated Sharpe) and the
per-bar equity of the agent and its baselines. With no database, the `evaluate` stage's
outputs (`reports/metrics/evaluate.json`, `reports/plots/equity_<split>.csv`) are one run:
its deflated Sharpe is then PSR(0), as nothing was selected among trials.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from qraptor.analysis.project import ProjectPaths, require
from qraptor.core import layout
from qraptor.core.config import scope_overrides
from qraptor.core.errors import DataError
from qraptor.evaluation.compare.comparison import (
    Comparison,
    RunRecord,
    compare_runs,
    per_bar_sharpes,
)
from qraptor.evaluation.compare.config import BASELINES, compare_config_from, load_compare_config
from qraptor.evaluation.metric_names import AGENT, metric_key
from qraptor.evaluation.report import equity_frame, read_dvc_metrics
from qraptor.evaluation.verdict import Verdict

DVC_RUN_ID = "dvc-evaluate"


@dataclass
class Results:
    """Runs compared on one split, with the equity curves of (up to a few of) them."""

    source: str  # dvc | store
    comparison: Comparison
    equity: dict[str, pd.DataFrame]  # run id -> timestamp, agent and baseline equity per bar

    @property
    def split(self) -> str:
        return self.comparison.split

    @property
    def best_id(self) -> str | None:
        """The finished run with the highest Sharpe on the split (None if none finished)."""
        finished = _finished(self.comparison)
        if not finished:
            return None
        return max(finished, key=lambda r: r.value(self.split, "sharpe")).id


# -- loading ----------------------------------------------------------------------------


def dvc_run_record(
    evaluation: Mapping[str, Any], config: Mapping[str, Any] | None = None
) -> RunRecord:
    """The `evaluate` stage's metrics, nested (``split -> {agent, <baseline>...}``:
    evaluation.report.read_dvc_metrics), as a RunRecord."""
    splits = {}
    for split, section in evaluation.items():
        if isinstance(section, Mapping) and "agent" in section:
            baselines = {k: v for k, v in section.items() if k in BASELINES}
            splits[split] = {"agent": section["agent"], "baselines": baselines}
            if isinstance(section.get("verdict"), Mapping):  # Verdict.to_metrics
                splits[split]["verdict"] = section["verdict"]
    metrics = {"objective": evaluation.get("objective"), "splits": splits}
    return RunRecord(id=DVC_RUN_ID, status="succeeded", config=config or {}, metrics=metrics)


def load_dvc_equity(paths: ProjectPaths, split: str) -> pd.DataFrame:
    """Equity of the agent and baselines on `split`: the training run's full curve when its
    folder is there, else the `evaluate` stage's plot CSV (thinned to at most 3,000 bars)."""
    if (layout.eval_dir(paths.agent, split) / layout.EQUITY).is_file():
        return equity_frame(paths.agent, split)
    frame = pd.read_csv(require(paths.equity_csv(split), "evaluate"))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def load_dvc_results(paths: ProjectPaths, compare_overrides: Sequence[str] = ()) -> Results:
    """The run `dvc repro` trained and evaluated, compared as `qraptor compare` would."""
    cfg = load_compare_config(compare_overrides)
    evaluation = read_dvc_metrics(require(paths.evaluate_metrics, "evaluate"))
    record = dvc_run_record(evaluation, _run_config(paths.agent))
    if cfg.split not in (record.metrics or {})["splits"]:
        raise _no_split(paths.evaluate_metrics, cfg.split)
    equity = {record.id: load_dvc_equity(paths, cfg.split)}
    comparison = compare_runs(
        [record],
        cfg,
        title="dvc repro: the sample run",
        sweep=True,
        load_equity=lambda r, split: equity.get(r.id) if split == cfg.split else None,
    )
    return Results("dvc", comparison, equity)


def load_store_results(
    *,
    sweep: str | None = None,
    experiment: str | None = None,
    sessions: Sequence[str] = (),
    store_overrides: Sequence[str] = (),
    compare_overrides: Sequence[str] = (),
    equity_runs: int = 6,
) -> Results:
    """A sweep, an experiment or sessions (ids or prefixes) from the session store, with the
    equity of the `equity_runs` best finished runs. The store is $QRAPTOR_MONGO_URI, else
    `store.uri`, else the local SecantusDB server (started if need be), like every command."""
    from qraptor.core.config import compose_command
    from qraptor.core.errors import ConfigError
    from qraptor.store.config import store_config_from
    from qraptor.store.ledger import ledger_config_from
    from qraptor.store.run_records import (
        GridFSEquity,
        experiment_records,
        records_by_id,
        sweep_records,
    )
    from qraptor.store.store import SessionStore

    if sum([sweep is not None, experiment is not None, bool(sessions)]) != 1:
        raise ConfigError("results", "name a sweep, an experiment or session ids (one of them)")
    scoped = [*scope_overrides(store_overrides, ("store",), "store"), *compare_overrides]
    composed = compose_command("qraptor", scoped, primary="compare")
    cfg = compare_config_from(composed.compare)
    collection = ledger_config_from(composed.ledger).collection
    with SessionStore.from_config(store_config_from(composed.store)) as store:
        if sweep is not None:
            records = sweep_records(store, sweep, collection=collection, limit=cfg.limit)
            title = f"sweep {sweep}"
        elif experiment is not None:
            records = experiment_records(store, experiment, collection=collection, limit=cfg.limit)
            title = f"experiment {experiment}"
        else:
            records = records_by_id(store, sessions, collection=collection)
            title = f"sessions {', '.join(r.id for r in records)}"
        with GridFSEquity(store) as load_equity:
            comparison = compare_runs(
                records, cfg, title=title, sweep=sweep is not None, load_equity=load_equity
            )
            ranked = sorted(_finished(comparison), key=lambda r: -r.value(cfg.split, "sharpe"))
            equity = {
                r.id: frame
                for r in ranked[:equity_runs]
                if (frame := load_equity(r, cfg.split)) is not None
            }
    return Results("store", comparison, equity)


def load_results(
    paths: ProjectPaths,
    *,
    sweep: str | None = None,
    experiment: str | None = None,
    sessions: Sequence[str] = (),
    store_overrides: Sequence[str] = (),
    compare_overrides: Sequence[str] = (),
) -> Results:
    """The runs a notebook names (a sweep, an experiment or sessions) from the session store;
    when it names none, the run of the DVC pipeline (no database needed)."""
    if sweep or experiment or sessions:
        return load_store_results(
            sweep=sweep or None,
            experiment=experiment or None,
            sessions=sessions,
            store_overrides=store_overrides,
            compare_overrides=compare_overrides,
        )
    return load_dvc_results(paths, compare_overrides)


# -- equity and drawdowns ---------------------------------------------------------------


def equity_columns(frame: pd.DataFrame) -> list[str]:
    """The equity columns of an equity frame: the agent, then the baselines present."""
    return [c for c in ("agent", *BASELINES) if c in frame and frame[c].notna().any()]


def relative_equity(frame: pd.DataFrame) -> pd.DataFrame:
    """Agent and baseline equity divided by their first value, on the frame's timestamps:
    one scale, so curves of different sessions and baselines compare directly."""
    out = frame[["timestamp"]].copy()
    for column in equity_columns(frame):
        out[column] = frame[column] / frame[column].iloc[0]
    return out


def drawdowns(frame: pd.DataFrame) -> pd.DataFrame:
    """Drawdown of each equity column per bar: equity / running peak - 1 (0 at a new high)."""
    out = frame[["timestamp"]].copy()
    for column in equity_columns(frame):
        out[column] = frame[column] / frame[column].cummax() - 1.0
    return out


def drawdown_episodes(frame: pd.DataFrame, column: str = "agent", top: int = 5) -> pd.DataFrame:
    """The `top` deepest drawdowns of one equity column: peak, trough, recovery (NaT while
    still under water), depth and bars from peak to trough and from peak to recovery."""
    equity = frame[column].to_numpy(dtype=np.float64)
    stamps = frame["timestamp"].reset_index(drop=True)
    peak_values = np.maximum.accumulate(equity)
    under = equity < peak_values
    episodes, start = [], None
    for i, is_under in enumerate([*under, False]):
        if is_under and start is None:
            start = i - 1  # the peak is the bar before the equity first falls below it
        elif not is_under and start is not None:
            trough = start + int(np.argmin(equity[start:i]))
            recovered = i < len(equity)
            episodes.append(
                {
                    "peak": stamps[start],
                    "trough": stamps[trough],
                    "recovery": stamps[i] if recovered else pd.NaT,
                    "depth": equity[trough] / equity[start] - 1.0,
                    "bars_to_trough": trough - start,
                    "bars_to_recovery": i - start if recovered else np.nan,
                }
            )
            start = None
    table = pd.DataFrame(
        episodes,
        columns=["peak", "trough", "recovery", "depth", "bars_to_trough", "bars_to_recovery"],
    )
    return table.sort_values("depth", kind="stable").head(top).reset_index(drop=True)


# -- tables of the comparison -----------------------------------------------------------


def runs_table(results: Results) -> pd.DataFrame:
    """One row per run: status, the config keys that vary between runs, the compared metrics
    (``<split>/agent/<metric>``, evaluation.metric_names) and the baseline's Sharpe; best
    Sharpe first."""
    rows = [
        {"run": row.record.id, "status": row.record.status, **row.params, **row.values}
        for row in results.comparison.rows
    ]
    table = pd.DataFrame(rows).set_index("run")
    key = metric_key(results.split, AGENT, "sharpe")
    return table.sort_values(key, ascending=False, na_position="last") if key in table else table


def metric_values(results: Results) -> pd.DataFrame:
    """Tidy: one row per group, run and metric with the run's value (finished runs only),
    what a strip or box plot of the metrics across seeds draws."""
    by_id = {r.id: r for r in results.comparison.records}
    rows = [
        {
            "group": group.label,
            "run": run_id,
            "metric": metric,
            "value": by_id[run_id].value(results.split, metric),
        }
        for group in results.comparison.groups
        for run_id in group.run_ids
        for metric in group.metrics
    ]
    return pd.DataFrame(rows, columns=["group", "run", "metric", "value"])


def group_summaries(results: Results) -> pd.DataFrame:
    """Per group of seeds and metric: runs, mean and IQM with their bootstrap CIs, spread,
    and P(agent beats the baseline) with its CI (`qraptor compare`'s numbers)."""
    rows = []
    for group in results.comparison.groups:
        beats = group.beats_baseline
        for metric, summary in group.metrics.items():
            rows.append(
                {
                    "group": group.label,
                    "metric": metric,
                    "runs": summary.runs,
                    "mean": summary.mean.estimate,
                    "mean_low": summary.mean.low,
                    "mean_high": summary.mean.high,
                    "iqm": summary.iqm.estimate,
                    "iqm_low": summary.iqm.low,
                    "iqm_high": summary.iqm.high,
                    "std": summary.std,
                    "p_beats_baseline": beats.estimate,
                    "p_beats_low": beats.low,
                    "p_beats_high": beats.high,
                }
            )
    return pd.DataFrame(rows)


def significance_table(results: Results) -> pd.Series | None:
    """The deflated Sharpe of the best run as a labelled column of numbers (all per bar):
    None when it could not be computed (not a sweep, or no return moments)."""
    sweep, best = results.comparison.sweep, results.comparison.best
    if sweep is None or best is None:
        return None
    return pd.Series(
        {
            "best run": best.id,
            "trials (N, every status)": sweep.n_trials,
            "finished trials": sweep.n_finished,
            "best Sharpe (per bar)": sweep.best.sharpe,
            "skewness": sweep.best.skewness,
            "kurtosis (Pearson)": sweep.best.kurtosis,
            "bars (T)": sweep.best.bars,
            "variance of trial Sharpes": sweep.sharpe_variance,
            "PSR(0)": sweep.psr,
            "expected max Sharpe SR0": sweep.expected_max_sharpe,
            "deflated Sharpe DSR": sweep.dsr,
        },
        name=results.comparison.title,
    )


def verdicts(results: Results) -> list[tuple[str, Verdict]]:
    """(run id, verdict) for every split of every finished run that has one, best Sharpe
    first; for a sweep, the best run's verdict on the compared split is the comparison's
    (the DSR over the sweep's N trials in its rule)."""
    comparison, out = results.comparison, []
    ranked = sorted(_finished(comparison), key=lambda r: -r.value(comparison.split, "sharpe"))
    for record in ranked:
        for split in (record.metrics or {}).get("splits") or {}:
            if record is comparison.best and split == comparison.split and comparison.verdict:
                out.append((record.id, comparison.verdict))
            elif (stored := record.verdict(split)) is not None:
                out.append((record.id, Verdict.from_dict(split, stored)))
    return out


def verdict_table(results: Results) -> pd.DataFrame:
    """`verdicts` as a frame: run, split, edge, the numbers, and the line."""
    columns = ["run", "split", "edge", "sharpe", "t_stat", "psr", "psr_vs_benchmark", "dsr",
               "n_trials", "pbo", "text"]  # fmt: skip
    rows = [{"run": run, **verdict.to_dict()} for run, verdict in verdicts(results)]
    return pd.DataFrame(rows, columns=columns)


def conclusion(results: Results) -> str:
    """The notebook's last word: the best run's verdict on the compared split, its deflated
    Sharpe when it was one of a sweep's trials, and what that means for trading it."""
    best, split = results.best_id, results.split
    found = [v for run, v in verdicts(results) if run == best and v.split == split]
    if best is None or not found:
        return f"Conclusion: no finished run has a verdict on {split}: nothing to trade yet."
    verdict = found[0]
    lines = [f"Best run {best} on {split}: {verdict.text}."]
    sweep = results.comparison.sweep
    if sweep is not None and math.isfinite(sweep.dsr) and "DSR" not in verdict.text:
        lines.append(
            f"Its deflated Sharpe ratio over {sweep.n_trials} trials is {sweep.dsr:.2f} "
            "(0.95 is the usual bar)."
        )
    if verdict.edge:
        lines.append(
            "Conclusion: an edge over buy-and-hold after costs, beyond chance on these bars; "
            "confirm it out of sample (qraptor study) before trading it."
        )
    else:
        lines.append(
            "Conclusion: no evidence of an edge over buy-and-hold after costs; "
            "do not trade this agent."
        )
    return "\n".join(lines)


def trial_sharpes(results: Results) -> list[float]:
    """Per-bar Sharpe ratio of every finished trial (V[SR]'s sample in the deflated Sharpe)."""
    comparison = results.comparison
    if comparison.sweep is None or comparison.best is None:
        return []
    # the moments the comparison deflated with: stored ones, else from the best's equity
    return per_bar_sharpes(
        _finished(comparison), comparison.split, comparison.best, comparison.sweep.best
    )


def _finished(comparison: Comparison) -> list[RunRecord]:
    return [r for r in comparison.records if math.isfinite(r.value(comparison.split, "sharpe"))]


def _run_config(run_dir: Path) -> dict[str, Any]:
    """The resolved config of the training run, if its folder is there (for the tables)."""
    path = run_dir / layout.CONFIG
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _no_split(path: Path, split: str) -> DataError:
    return DataError(path, f"has no metrics of the '{split}' split (compare split={split})")
