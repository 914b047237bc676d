"""Reports of one trained session: DVC metrics, plot data and figures from its evaluation.

`train_session` backtests the agent and its baselines on every evaluation split and leaves
`eval/<split>/` in its run folder. This module turns that folder into what people compare:
a flat metrics JSON named as in MLflow (`val/agent/sharpe`; `dvc metrics diff` between
experiments), thinned equity curves for DVC's
vega plots (`dvc plots diff`), and one figure per split (equity against the baselines,
drawdown, position over price). Notebooks and the dashboard reuse the figure functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from rich.table import Table

from qraptor.core import layout
from qraptor.core.atomic import write_json_atomic
from qraptor.core.errors import DataError
from qraptor.data.plots import save_figure, thin, write_plot_csv
from qraptor.evaluation.baseline_names import baseline_label
from qraptor.evaluation.metric_names import (
    AGENT,
    BEATS_RANDOM,
    OBJECTIVE,
    flat_metrics,
    metric_key,
    nest_metrics,
    session_key,
)
from qraptor.evaluation.metrics import HEADLINE_METRICS
from qraptor.evaluation.policy_table import (
    BEATS_RANDOM_SHARE,
    VERDICT,
    policy_rows,
    report_caption,
    rich_table,
)
from qraptor.evaluation.verdict import Verdict, sharpe_psr

BASELINE_COLOURS = {
    "buy_and_hold": "#f58518",
    "flat": "#9d9d9d",
    "random": "#b279a2",
    "random_uniform": "#d4a6c8",
    "ma_crossover": "#72b7b2",
    # a portfolio session's (baseline_names.PORTFOLIO_BASELINES; buy_and_hold above)
    "equal_weight": "#e45756",
    "momentum_top_k": "#54a24b",
    "min_variance": "#4c78a8",
    "max_sharpe": "#eeca3b",
    "index": "#9d755d",
}


def read_run(run_dir: Path) -> dict[str, Any]:
    """The metrics.json a training run wrote, naming the folder when it is not one."""
    path = Path(run_dir) / layout.METRICS
    if not path.is_file():
        raise DataError(run_dir, "no metrics.json: not the output folder of a training run")
    return json.loads(path.read_text(encoding="utf-8"))


def dvc_metrics(run: dict[str, Any]) -> dict[str, Any]:
    """The DVC metrics file: flat keys of evaluation.metric_names, the same as MLflow's
    (``val/agent/sharpe``, ``val/buy_and_hold/sharpe``, ``val/verdict/psr``,
    ``val/agent/beats_random_share``), with ``objective`` and ``session/timesteps``. Flat,
    because DVC joins nested keys with '.': `dvc metrics show` prints these names as they are.
    """
    flat: dict[str, Any] = {
        OBJECTIVE: run.get("objective"),
        session_key("timesteps"): run.get("timesteps"),
    }
    for split, result in run.get("splits", {}).items():
        section: dict[str, dict[str, Any]] = {AGENT: _headline(result["agent"])}
        for name, metrics in result.get("baselines", {}).items():
            section[name] = _headline(metrics)
        if isinstance(result.get(VERDICT), dict):  # numbers and the edge flag (no text)
            section[VERDICT] = Verdict.from_dict(split, result[VERDICT]).to_metrics()
        flat.update(flat_metrics({split: section}))
        # computed once, by the session summary (qraptor.train.summary) the trainer wrote
        if result.get(BEATS_RANDOM_SHARE) is not None:
            flat[metric_key(split, AGENT, BEATS_RANDOM)] = result[BEATS_RANDOM_SHARE]
    return flat


def dvc_sections(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The DVC metrics file per split, as the policy table reads it: ``{split: {agent,
    <baseline>..., verdict, agent_beats_random_share}}`` beside ``objective`` and
    ``timesteps``. A file written before the flat names (nested already) passes as it is."""
    if any(isinstance(v, Mapping) for v in metrics.values()):
        return dict(metrics)
    nested, rest = nest_metrics(metrics)
    sections: dict[str, Any] = {
        OBJECTIVE: rest.get(OBJECTIVE),
        "timesteps": rest.get(session_key("timesteps")),
    }
    for split, policies in nested.items():
        section: dict[str, Any] = dict(policies)
        share = (section.get(AGENT) or {}).pop(BEATS_RANDOM, None)
        if share is not None:
            section[BEATS_RANDOM_SHARE] = share
        sections[split] = section
    return sections


def read_dvc_metrics(path: Path) -> dict[str, Any]:
    """`dvc_sections` of the metrics file at `path`, naming it when it is absent or broken."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such metrics file: run `dvc repro evaluate` first")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON ({exc})") from None
    if not isinstance(metrics, dict):
        raise DataError(path, "not a metrics file (a JSON object of metric keys)")
    return dvc_sections(metrics)


def equity_frame(run_dir: Path, split: str) -> pd.DataFrame:
    """Agent and baseline equity on one split, one row per bar, with price and position."""
    return split_frame(layout.eval_dir(run_dir, split))


def split_frame(folder: Path) -> pd.DataFrame:
    """`equity_frame` of one evaluation's folder (equity.csv, baselines_equity.csv): a run's
    eval/<split>/ or a `qraptor backtest` output."""
    folder = Path(folder)
    agent = pd.read_csv(folder / layout.EQUITY, parse_dates=["timestamp"])
    baselines = pd.read_csv(folder / layout.BASELINES_EQUITY, parse_dates=["timestamp"])
    columns = [c for c in ("timestamp", "close", "position", "equity") if c in agent]
    frame = agent[columns].rename(columns={"equity": "agent"})  # a portfolio: no price
    return frame.merge(baselines, on="timestamp", how="left")


def split_figure(folder: Path, title: str) -> Figure:
    """The figure of one evaluation's folder: one instrument's `evaluation_figure`, or a
    portfolio's (its weights.csv beside the equity) `portfolio_figure`."""
    frame = split_frame(folder)
    weights = Path(folder) / layout.WEIGHTS
    if weights.is_file():
        return portfolio_figure(frame, pd.read_csv(weights, parse_dates=["timestamp"]), title)
    return evaluation_figure(frame, title)


def portfolio_figure(frame: pd.DataFrame, weights: pd.DataFrame, title: str) -> Figure:
    """Equity of the agent against the portfolio baselines, its drawdown, and its weights
    over time as a stacked area (cash first; the instruments by mean weight)."""
    fig, (equity_ax, drawdown_ax, weights_ax) = plt.subplots(
        3, 1, figsize=(11, 8.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.2, 2.4]}
    )
    view = thin(frame, 4000)
    _equity_lines(equity_ax, view, title)
    _drawdown(drawdown_ax, view)
    shown = thin(weights, 2000)
    names = [c for c in shown.columns if c != "timestamp"]
    risky = sorted(names[1:], key=lambda c: -float(shown[c].abs().mean()))
    top, rest = risky[:10], risky[10:]
    stacks = {"cash": shown[names[0]].clip(lower=0)}
    stacks.update({c: shown[c].clip(lower=0) for c in top})
    if rest:
        stacks[f"{len(rest)} others"] = shown[rest].clip(lower=0).sum(axis=1)
    palette = plt.get_cmap("tab20")
    colours = ["#bbbbbb", *(palette(i % 20) for i in range(len(stacks) - 1))]
    weights_ax.stackplot(shown["timestamp"], *stacks.values(), labels=list(stacks),
                         colors=colours, step="post", linewidth=0)  # fmt: skip
    weights_ax.set_ylim(0, max(1.0, float(sum(stacks.values()).max())))
    weights_ax.set_ylabel("weight")
    weights_ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _equity_lines(ax: Any, view: pd.DataFrame, title: str) -> None:
    for name, colour in BASELINE_COLOURS.items():
        if name in view:
            ax.plot(view["timestamp"], view[name], color=colour, linewidth=0.9,
                    label=baseline_label(name))  # fmt: skip
    ax.plot(view["timestamp"], view["agent"], color="#1f4e79", linewidth=1.3, label="agent")
    ax.set_ylabel("equity")
    ax.legend(loc="upper left", frameon=False, ncol=4)
    ax.set_title(title)


def _drawdown(ax: Any, view: pd.DataFrame) -> None:
    peak = view["agent"].cummax()
    ax.fill_between(
        view["timestamp"], -(1 - view["agent"] / peak), 0, color="#e45756", alpha=0.6, linewidth=0
    )
    ax.set_ylabel("drawdown")


def evaluation_figure(frame: pd.DataFrame, title: str) -> Figure:
    """Equity of the agent against its baselines, the agent's drawdown, its position."""
    fig, (equity_ax, drawdown_ax, position_ax) = plt.subplots(
        3, 1, figsize=(11, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.2, 1.5]}
    )
    view = thin(frame, 4000)
    _equity_lines(equity_ax, view, title)
    _drawdown(drawdown_ax, view)
    position_ax.plot(view["timestamp"], view["close"], color="#444444", linewidth=0.8)
    position_ax.set_ylabel("price")
    side = position_ax.twinx()
    side.fill_between(
        view["timestamp"],
        view["position"],
        0,
        step="post",
        color="#54a24b",
        alpha=0.35,
        linewidth=0,
    )
    side.set_ylabel("position")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def write_reports(
    run_dir: Path, metrics_path: Path, plots_dir: Path, figures_dir: Path, title: str = ""
) -> dict[str, Any]:
    """The DVC metrics file, a plot CSV and a figure per evaluated split; returns the metrics."""
    run = read_run(run_dir)
    metrics = dvc_metrics(run)
    write_json_atomic(metrics_path, metrics)
    for split in run.get("splits", {}):
        frame = equity_frame(run_dir, split)
        columns = {c: c for c in ("timestamp", "agent", *BASELINE_COLOURS) if c in frame}
        write_plot_csv(frame, Path(plots_dir) / f"equity_{split}.csv", columns)
        heading = f"{title + ': ' if title else ''}{split} split, agent vs baselines (same costs)"
        figure = split_figure(layout.eval_dir(run_dir, split), heading)
        save_figure(figure, Path(figures_dir) / f"equity_{split}.png")
    return metrics


def summary_table(metrics: Mapping[str, Any]) -> Table:
    """The agent next to its baselines, per split, from the DVC metrics (`dvc_metrics`'s flat
    keys or `dvc_sections`): what `dvc metrics show` holds, in a shape a person reads (one
    row per split and policy)."""
    sections = dvc_sections(metrics)
    return rich_table(policy_rows(sections), caption=report_caption(sections))


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline metrics and the Sharpe ratio's PSR(0), its uncertainty in the tables."""
    headline = {key: metrics.get(key) for key in HEADLINE_METRICS if key in metrics}
    return {**headline, "psr": sharpe_psr(metrics)} if "sharpe_per_bar" in metrics else headline
