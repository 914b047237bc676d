"""Figures of a comparison: equity against the baselines, metrics across seeds, Sharpe against
the swept parameters. Each returns a matplotlib Figure (the HTML report inlines them as PNG;
notebooks can show them directly).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qraptor.data.plots import thin
from qraptor.evaluation.baseline_names import baseline_label
from qraptor.evaluation.compare.comparison import Comparison, flatten
from qraptor.evaluation.report import BASELINE_COLOURS

# get_cmap() is typed as returning a Colormap; tab10 is a ListedColormap (a tuple of RGB)
AGENT_COLOURS: tuple[tuple[float, float, float], ...] = plt.get_cmap("tab10").colors  # type: ignore[attr-defined]


def equity_overlay(
    frames: Mapping[str, pd.DataFrame], baseline_frame: pd.DataFrame, title: str
) -> Figure:
    """Every run's equity (relative to its start) and the baselines of one of them."""
    fig, ax = plt.subplots(figsize=(11, 4.5))
    base = thin(baseline_frame, 4000)
    for name, colour in BASELINE_COLOURS.items():
        if name in base and base[name].notna().any():
            label = baseline_label(name)
            ax.plot(base["timestamp"], base[name] / base[name].iloc[0], color=colour,
                    linewidth=1.2, linestyle="--", label=label)  # fmt: skip
    for index, (label, frame) in enumerate(frames.items()):
        view = thin(frame, 4000)
        ax.plot(view["timestamp"], view["agent"] / view["agent"].iloc[0], linewidth=1.0,
                color=AGENT_COLOURS[index % len(AGENT_COLOURS)], label=label)  # fmt: skip
    ax.set_ylabel("equity / initial equity")
    ax.set_title(title)
    ax.legend(loc="upper left", frameon=False, fontsize=8, ncol=2)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def metric_distributions(comparison: Comparison) -> Figure | None:
    """Per metric: every run of each group (dots), its IQM (bar) and the IQM's CI (line)."""
    groups = comparison.groups
    if not groups:
        return None
    metrics = list(groups[0].metrics)
    by_id = {r.id: r for r in comparison.records}
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows + 0.6), squeeze=False)
    rng = np.random.default_rng(0)  # jitter only
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for x, group in enumerate(groups):
            values = np.array([by_id[i].value(comparison.split, metric) for i in group.run_ids])
            values = values[np.isfinite(values)]
            jitter = rng.uniform(-0.12, 0.12, len(values))
            ax.scatter(x + jitter, values, s=14, color="#4c78a8", alpha=0.7, zorder=2)
            iqm = group.metrics[metric].iqm
            if math.isfinite(iqm.estimate):
                ax.plot([x - 0.25, x + 0.25], [iqm.estimate] * 2, color="#e45756", linewidth=2)
                ax.plot([x, x], [iqm.low, iqm.high], color="#e45756", linewidth=1)
        ax.set_title(f"{comparison.split} {metric}", fontsize=10)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([_wrap(g.label) for g in groups], fontsize=7, rotation=20, ha="right")
    for ax in list(axes.flat)[len(metrics) :]:
        ax.set_visible(False)
    fig.suptitle("runs per configuration: dots = seeds/folds, red = IQM and its CI", fontsize=10)
    fig.tight_layout()
    return fig


def sharpe_vs_params(comparison: Comparison, skip: set[str], max_params: int) -> Figure | None:
    """Sharpe on the compared split against each config key that varies (up to max_params)."""
    finished = [r for r in comparison.records if math.isfinite(r.value(comparison.split, "sharpe"))]
    keys = [k for k in comparison.varying if k not in skip][:max_params]
    if not keys or len(finished) < 2:
        return None
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    sharpe = np.array([r.value(comparison.split, "sharpe") for r in finished])
    best = comparison.best
    for ax, key in zip(axes.flat, keys, strict=False):
        raw = [flatten(r.config).get(key) for r in finished]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
        if numeric:
            x = np.array(raw, dtype=float)
            positive = np.all(x > 0)
            if positive and x.max() / x.min() > 50:
                ax.set_xscale("log")
        else:
            labels = sorted({json.dumps(v, default=str) for v in raw})
            x = np.array([labels.index(json.dumps(v, default=str)) for v in raw], dtype=float)
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels([_wrap(t.strip('"')) for t in labels], fontsize=7, rotation=20)
        ax.scatter(x, sharpe, s=18, color="#4c78a8", alpha=0.8)
        if best is not None and best in finished:
            i = finished.index(best)
            ax.scatter([x[i]], [sharpe[i]], s=80, facecolors="none", edgecolors="#e45756",
                       linewidths=1.5, label="best")  # fmt: skip
            ax.legend(frameon=False, fontsize=7, loc="best")
        ax.set_xlabel(key, fontsize=8)
        ax.set_ylabel(f"{comparison.split} Sharpe", fontsize=8)
    for ax in list(axes.flat)[len(keys) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def _wrap(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
