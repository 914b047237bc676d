"""Figures of results: equity against the baselines, drawdowns, metrics across seeds, and
the deflated Sharpe ratio as a picture of the best Sharpe's uncertainty.

Each function takes the frames of `qraptor.analysis.results` and returns a matplotlib
Figure (never shows it), so a notebook displays it and the dashboard can render it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from scipy import stats

from qraptor.analysis.results import drawdowns, equity_columns, relative_equity
from qraptor.data.plots import thin
from qraptor.evaluation.baseline_names import baseline_label
from qraptor.evaluation.report import BASELINE_COLOURS
from qraptor.evaluation.statistics import SweepSignificance, sharpe_ratio_std

# get_cmap() is typed as returning a Colormap; tab10 is a ListedColormap (a tuple of RGB)
AGENT_COLOURS: tuple[tuple[float, float, float], ...] = plt.get_cmap("tab10").colors  # type: ignore[attr-defined]
IQM_COLOUR = "#e45756"


def equity_vs_baselines(frames: Mapping[str, pd.DataFrame], title: str) -> Figure:
    """Equity relative to its start of each run (solid) and of the baselines of the first run
    (dashed; runs of one sweep share the span, so they share the baselines)."""
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for index, (run, frame) in enumerate(frames.items()):
        view = thin(relative_equity(frame), 4000)
        if index == 0:
            for name in equity_columns(frame)[1:]:
                ax.plot(
                    view["timestamp"],
                    view[name],
                    linestyle="--",
                    linewidth=1.1,
                    color=BASELINE_COLOURS.get(name, "#444444"),
                    label=baseline_label(name),
                )
        ax.plot(
            view["timestamp"],
            view["agent"],
            linewidth=1.3,
            color=AGENT_COLOURS[index % len(AGENT_COLOURS)],
            label=f"agent {run}",
        )
    ax.axhline(1.0, color="#999999", linewidth=0.6)
    ax.set_ylabel("equity / initial equity")
    ax.set_title(title)
    ax.legend(loc="upper left", frameon=False, fontsize=8, ncol=2)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def drawdown_chart(frame: pd.DataFrame, title: str) -> Figure:
    """Underwater curves: how far below its running peak each of agent and baselines is."""
    fig, ax = plt.subplots(figsize=(11, 3.5))
    view = thin(drawdowns(frame), 4000)
    for name in equity_columns(frame)[1:]:
        ax.plot(
            view["timestamp"],
            view[name],
            linewidth=1.0,
            linestyle="--",
            color=BASELINE_COLOURS.get(name, "#444444"),
            label=baseline_label(name),
        )
    ax.fill_between(
        view["timestamp"],
        view["agent"],
        0.0,
        color="#1f4e79",
        alpha=0.35,
        linewidth=0,
        label="agent",
    )
    ax.set_ylabel("drawdown")
    # decimals from the axis' span: -0.5% and -1.5% stay apart on a shallow drawdown
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
    ax.set_title(title)
    ax.legend(loc="lower left", frameon=False, fontsize=8, ncol=4)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def metric_distributions(values: pd.DataFrame, summaries: pd.DataFrame, title: str) -> Figure:
    """Per metric, per group of seeds: a box of the runs, every run as a dot, and the IQM
    with its bootstrap CI in red (the number to quote; the box shows the spread)."""
    metrics = list(dict.fromkeys(values["metric"]))
    groups = list(dict.fromkeys(values["group"]))
    cols = max(1, min(3, len(metrics)))
    rows = max(1, math.ceil(len(metrics) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.3 * rows + 0.6), squeeze=False)
    rng = np.random.default_rng(0)  # jitter only
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for x, group in enumerate(groups):
            picked = values[(values["metric"] == metric) & (values["group"] == group)]["value"]
            runs = picked[np.isfinite(picked)].to_numpy()
            if len(runs) == 0:
                continue
            if len(runs) == 1:  # no spread to draw: say so rather than show a lone dot
                ax.annotate("1 run", (x, runs[0]), textcoords="offset points", xytext=(6, 6),
                            fontsize=7, color="#777777")  # fmt: skip
            ax.boxplot(
                runs, positions=[x], widths=0.5, showfliers=False, medianprops={"color": "#444444"}
            )
            ax.scatter(
                x + rng.uniform(-0.12, 0.12, len(runs)),
                runs,
                s=16,
                color="#4c78a8",
                alpha=0.8,
                zorder=3,
            )
            row = summaries[(summaries["metric"] == metric) & (summaries["group"] == group)]
            if len(row) and math.isfinite(row["iqm"].iloc[0]):
                iqm, low, high = row[["iqm", "iqm_low", "iqm_high"]].iloc[0]
                ax.errorbar(
                    [x + 0.3],
                    [iqm],
                    yerr=[[iqm - low], [high - iqm]],
                    fmt="D",
                    color=IQM_COLOUR,
                    markersize=5,
                    capsize=3,
                    zorder=4,
                )
        ax.set_title(metric, fontsize=10)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([_short(g) for g in groups], fontsize=7, rotation=20, ha="right")
    for ax in list(axes.flat)[len(metrics) :]:
        ax.set_visible(False)
    single = values.groupby("group")["value"].count().max() <= len(metrics)
    note = " (one run per group: more seeds, or `qraptor study`, give a spread)" if single else ""
    fig.suptitle(
        f"{title}: dots = runs (seeds), box = quartiles, red = IQM and its CI{note}", fontsize=10
    )
    fig.tight_layout()
    return fig


def deflated_sharpe_chart(
    significance: SweepSignificance, trial_sharpes: Sequence[float]
) -> Figure:
    """The best trial's per-bar Sharpe as an estimate with its (non-normal) standard error:
    the shaded area above SR0, the Sharpe the best of N skill-less trials would show, is the
    deflated Sharpe ratio; the area above 0 is PSR(0). Ticks below: every finished trial."""
    best = significance.best
    se = sharpe_ratio_std(best.sharpe, best.bars, best.skewness, best.kurtosis)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    sharpes = np.asarray([s for s in trial_sharpes if math.isfinite(s)], dtype=np.float64)
    if math.isfinite(se) and se > 0:
        marks = [best.sharpe, 0.0, *sharpes]
        if math.isfinite(significance.expected_max_sharpe):
            marks.append(significance.expected_max_sharpe)
        grid = np.linspace(
            min(min(marks), best.sharpe - 4 * se), max(max(marks), best.sharpe + 4 * se), 500
        )
        density = stats.norm.pdf(grid, best.sharpe, se)
        ax.plot(grid, density, color="#1f4e79", linewidth=1.3, label="best Sharpe: estimate ± SE")
        if math.isfinite(significance.expected_max_sharpe):
            above = grid >= significance.expected_max_sharpe
            ax.fill_between(
                grid[above],
                density[above],
                color="#4c78a8",
                alpha=0.3,
                linewidth=0,
                label=f"DSR = {significance.dsr:.3f}",
            )
    ax.axvline(0.0, color="#999999", linewidth=0.9, label=f"0 (PSR(0) = {significance.psr:.3f})")
    if math.isfinite(significance.expected_max_sharpe):
        ax.axvline(
            significance.expected_max_sharpe,
            color=IQM_COLOUR,
            linewidth=1.2,
            label=f"SR0 = {significance.expected_max_sharpe:.4f} (N = {significance.n_trials})",
        )
    if len(sharpes):
        ax.plot(
            sharpes,
            np.zeros_like(sharpes),
            "|",
            color="#444444",
            markersize=14,
            label=f"finished trials ({len(sharpes)})",
        )
    ax.set_xlabel("Sharpe ratio per bar")
    ax.set_ylabel("density")
    ax.set_title("deflated Sharpe ratio of the best trial")
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def _short(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
