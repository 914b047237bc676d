"""A study's report, written atomically into its folder, and what the terminal shows.

study.json            every trial (params, status, per-fold/per-seed Sharpe, score), the
                      sessions run, the selection, PBO, DSR, the track record still
                      needed, the held-out test result and its verdict
oos_returns.parquet   T x trials: each trial's seed-averaged out-of-sample bar returns
                      (failed and pruned trials too: NaN where they have no fold)
oos_seed_returns.parquet  T x (trial, seed): the per-seed stitched series
oos_baselines.parquet T x baselines: buy-and-hold and flat stitched the same way
oos_equity.png        the selected configuration's stitched equity, per seed and the
                      median, against buy-and-hold and flat
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich import box
from rich.table import Table

from qraptor.core.atomic import atomic_path, stable_json_value, write_json_atomic
from qraptor.data.plots import save_figure
from qraptor.evaluation.baseline_names import baseline_label
from qraptor.evaluation.verdict import BENCHMARK, judge
from qraptor.study.run import StudyResult, TrialRecord
from qraptor.study.significance import (
    backtest_overfitting,
    deflated,
    oos_matrix,
    track_record,
    trial_column,
)
from qraptor.study.stitch import bar_sharpe, equity_of, seed_average, stitch

STUDY_JSON = "study.json"
OOS_RETURNS = "oos_returns.parquet"
OOS_SEED_RETURNS = "oos_seed_returns.parquet"
OOS_BASELINES = "oos_baselines.parquet"
OOS_EQUITY = "oos_equity.parquet"
OOS_FIGURE = "oos_equity.png"
RETRAINED_ON = (
    "the chronological train split (rows labelled train in dataset.parquet; the validation "
    "span and the embargoes unused), one session per seed, evaluated on the test span only"
)


def verdict(
    agent_returns: np.ndarray,
    benchmark_returns: np.ndarray,
    *,
    split: str,
    periods_per_year: float,
    n_trials: int = 1,
    trials_sharpe_variance: float = math.nan,
    pbo: float | None = None,
    benchmark: str = BENCHMARK,
) -> dict[str, Any]:
    """The verdict on one split against `benchmark` after costs (buy-and-hold; 1/N for a
    portfolio study; evaluation.verdict's rule and line, as every report has it)."""
    return judge(
        agent_returns, benchmark_returns, split=split, periods_per_year=periods_per_year,
        benchmark=benchmark, n_trials=n_trials, trials_sharpe_variance=trials_sharpe_variance,
        pbo=pbo,
    ).to_dict()  # fmt: skip


def _trial_entry(trial: TrialRecord, periods_per_year: float) -> dict[str, Any]:
    seed_sharpes = trial.seed_sharpes()
    returns = trial.returns()
    return {
        "trial": trial.number,
        "params": trial.params,
        "status": trial.status,
        "error": trial.error,
        "folds_done": trial.folds_done,
        "fold_sharpe_per_bar": {
            str(k): {str(s): v for s, v in per_seed.items()}
            for k, per_seed in trial.fold_sharpes.items()
        },
        "seed_sharpe_per_bar": {str(s): v for s, v in seed_sharpes.items()},
        "score": trial.score,
        "running_score": trial.running_score,
        "sharpe_per_bar": bar_sharpe(returns),
        "sharpe_annualised": bar_sharpe(returns) * math.sqrt(periods_per_year),
        "oos_bars": int(returns.notna().sum()),
    }


def stitched_baselines(trial: TrialRecord) -> pd.DataFrame:
    return stitch([trial.baseline_returns[k] for k in trial.folds_done])


def held_out_entry(
    result: StudyResult, periods_per_year: float, pbo: float | None, variance: float
) -> dict[str, Any] | None:
    held = result.held_out
    if held is None:
        return None
    sessions = [
        {"seed": o.spec.seed, "status": o.status, "error": o.error, "run": o.run,
         "metrics": o.metrics}
        for o in held.outcomes
    ]  # fmt: skip
    entry: dict[str, Any] = {
        "trial": held.trial,
        "retrained_on": RETRAINED_ON,
        "sessions": sessions,
        "seed_sharpe_per_bar": {str(s): bar_sharpe(r) for s, r in held.returns.items()},
    }
    if not held.returns or held.baselines is None:
        entry["verdict"] = None
        return entry
    agent = seed_average(held.returns)
    bench = held.baselines[result.benchmark].reindex(agent.index)
    entry["bars"] = len(agent)
    entry["sharpe_annualised"] = bar_sharpe(agent) * math.sqrt(periods_per_year)
    entry["baselines_sharpe_annualised"] = {
        name: bar_sharpe(held.baselines[name]) * math.sqrt(periods_per_year)
        for name in held.baselines
    }
    entry["verdict"] = verdict(
        agent.to_numpy(), bench.to_numpy(), split="test", periods_per_year=periods_per_year,
        n_trials=len(result.trials), trials_sharpe_variance=variance, pbo=pbo,
        benchmark=result.benchmark,
    )  # fmt: skip
    return entry


def summarise(result: StudyResult, periods_per_year: float) -> dict[str, Any]:
    """The whole study as plain data (study.json)."""
    selected = result.selected
    pbo = backtest_overfitting(result.trials)
    statistics: dict[str, Any] = {"pbo": pbo}
    selection: dict[str, Any] | None = None
    variance = math.nan
    if selected is not None:
        dsr = deflated(result.trials, selected)
        variance = dsr["trials_sharpe_variance"]
        statistics["dsr"] = dsr
        statistics["track_record"] = track_record(selected, periods_per_year)
        oos = selected.returns()
        bench = stitched_baselines(selected)[result.benchmark].reindex(oos.index)
        selection = {
            "trial": selected.number,
            "params": selected.params,
            "score": selected.score,
            "criterion": f"{result.cfg.score} across {result.cfg.seeds} seeds of the per-bar "
            "Sharpe of each seed's stitched out-of-sample returns (folds only; the test "
            "span never seen)",
            "oos_verdict": verdict(
                oos.to_numpy(),
                bench.to_numpy(),
                split="folds (out-of-sample, stitched)",
                periods_per_year=periods_per_year,
                n_trials=len(result.trials),
                trials_sharpe_variance=variance,
                pbo=pbo.get("pbo"),
                benchmark=result.benchmark,
            ),
        }
    return {
        "study_id": result.study_id,
        "config": result.cfg.to_dict(),
        "layout": result.layout.to_dict(),
        "periods_per_year": periods_per_year,
        "trials": [_trial_entry(t, periods_per_year) for t in result.trials],
        "selection": selection,
        "statistics": statistics,
        "held_out": held_out_entry(result, periods_per_year, pbo.get("pbo"), variance),
        "sessions": result.sessions,
    }


def write_report(result: StudyResult, out_dir: Path, periods_per_year: float) -> dict[str, Any]:
    """Every output of the study into `out_dir`, each file atomically; the summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_parquet(oos_matrix(result.trials), out_dir / OOS_RETURNS)
    seeds = {
        f"{trial_column(t.number)}.seed_{s}": r
        for t in result.trials
        for s, r in t.seed_returns().items()
    }
    _write_parquet(_frame(seeds), out_dir / OOS_SEED_RETURNS)
    if result.selected is not None:
        _write_parquet(stitched_baselines(result.selected), out_dir / OOS_BASELINES)
        _write_parquet(stitched_equity(result.selected), out_dir / OOS_EQUITY)
        save_figure(oos_figure(result), out_dir / OOS_FIGURE)
    summary = stable_json_value(summarise(result, periods_per_year))  # as study.json has it
    write_json_atomic(out_dir / STUDY_JSON, summary)
    return summary


def _frame(columns: dict[str, pd.Series]) -> pd.DataFrame:
    frame = pd.concat(columns, axis=1) if columns else pd.DataFrame()
    frame.index.name = "timestamp"
    return frame.sort_index()


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=True)


def stitched_equity(selected: TrialRecord) -> pd.DataFrame:
    """The selected trial's stitched out-of-sample equity (start 1): seed_<k> per seed, their
    median, and the baselines stitched the same way (oos_equity.parquet, the figure)."""
    equity = pd.DataFrame({f"seed_{s}": equity_of(r) for s, r in selected.seed_returns().items()})
    seeds = list(equity.columns)
    equity["median"] = equity[seeds].median(axis=1)
    baselines = stitched_baselines(selected).reindex(equity.index)
    for name in baselines:
        equity[name] = equity_of(baselines[name])
    equity.index.name = "timestamp"
    return equity


def oos_figure(result: StudyResult):  # -> Figure
    """Stitched out-of-sample equity of the selected configuration against the baselines."""
    import matplotlib.pyplot as plt

    from qraptor.evaluation.report import BASELINE_COLOURS

    selected = result.selected
    assert selected is not None
    fig, ax = plt.subplots(figsize=(11, 5))
    equity = stitched_equity(selected)
    seeds = [c for c in equity.columns if c.startswith("seed_")]
    for i, seed in enumerate(seeds):
        ax.plot(equity.index, equity[seed].to_numpy(), color="#1f4e79", alpha=0.35,
                linewidth=0.8, label=f"each of {len(seeds)} seeds" if i == 0 else None)  # fmt: skip
    ax.plot(equity.index, equity["median"].to_numpy(), color="#1f4e79", linewidth=1.8,
            label="median of the seeds")  # fmt: skip
    for name in ("buy_and_hold", "flat", "equal_weight"):
        if name in equity:
            ax.plot(equity.index, equity[name].to_numpy(), color=BASELINE_COLOURS[name],
                    linewidth=1.1, label=baseline_label(name))  # fmt: skip
    for fold in result.layout.folds[1:]:  # where one fold's test window hands over to the next
        starts = [r.index[0] for r in selected.fold_returns.get(fold.number, {}).values() if len(r)]
        if starts:
            ax.axvline(starts[0], color="#cccccc", linewidth=0.8, linestyle="--")
    ax.set_ylabel("equity (stitched, start = 1)")
    ax.set_title(f"study {result.cfg.name}: trial {selected.number}, out-of-sample over "
                 f"{len(selected.folds_done)} folds x {result.cfg.seeds} seeds")  # fmt: skip
    ax.legend(loc="upper left", frameon=False, ncol=4, fontsize=8)
    fig.tight_layout()
    return fig


def terminal_table(summary: dict[str, Any]) -> Table:
    """One row per trial: status, score, seed Sharpe ratios; the selected one marked."""
    selected = (summary.get("selection") or {}).get("trial")
    table = Table(title=f"study {summary['config']['name']} ({summary['study_id']})",
                  box=box.SIMPLE_HEAD)  # fmt: skip
    for column in ("trial", "status", "score", "Sharpe/bar by seed", "annual Sharpe", "params"):
        table.add_column(column, justify="left" if column in ("status", "params") else "right")
    for trial in summary["trials"]:
        seeds = ", ".join(_num(v) for v in trial["seed_sharpe_per_bar"].values()) or "-"
        mark = " *" if trial["trial"] == selected else ""
        params = ", ".join(f"{k}={_num(v)}" for k, v in trial["params"].items()) or "(base)"
        table.add_row(f"{trial['trial']}{mark}", trial["status"], _num(trial["score"]), seeds,
                      _num(trial["sharpe_annualised"]), params)  # fmt: skip
    return table


def closing_lines(summary: dict[str, Any]) -> list[str]:
    """The lines after the table: selection, PBO, DSR, record still needed, the verdict."""
    stats, selection, held = summary["statistics"], summary["selection"], summary["held_out"]
    pbo = stats["pbo"]
    lines = [f"PBO {_num(pbo['pbo'])}" + (f" ({pbo['reason']})" if pbo.get("reason") else "")]
    if selection is None:
        return [*lines, "no trial finished: nothing selected, the test span left untouched"]
    dsr, record = stats["dsr"], stats["track_record"]
    lines.insert(0, f"selected trial {selection['trial']} (score {_num(selection['score'])})")
    trials = f"{dsr['n_trials']} trial{'s' if dsr['n_trials'] != 1 else ''}"
    lines.append(f"DSR {_num(dsr['dsr'])} over {trials} (PSR {_num(dsr['psr'])})")
    needed = record["bars_still_needed"]
    lines.append(
        "bars of live or paper record still needed: "
        + (f"{needed:,}" if needed is not None else "no finite number (Sharpe <= 0)")
        + f" (MinTRL {_num(record['min_track_record_bars'])}, {record['bars_observed']:,} observed)"
    )
    lines.append(f"folds (out-of-sample): {selection['oos_verdict']['text']}")
    if held is not None and held.get("verdict"):
        lines.append(f"held-out test, once: {held['verdict']['text']}")
    return lines


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "n/a"
    return str(value)
