"""The comparison as one self-contained HTML page that works offline.

No scripts and no external references at all: figures are matplotlib PNGs inlined as
base64 `data:` URIs, styles are inline, so the file can be mailed, archived with a paper
or opened on a machine without internet. Written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import math
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from qraptor.core.atomic import write_text_atomic
from qraptor.core.formatting import format_value, status_css
from qraptor.core.log import get_logger
from qraptor.evaluation.compare import plots as compare_plots
from qraptor.evaluation.compare.comparison import Comparison, EquityLoader
from qraptor.evaluation.compare.config import CompareConfig
from qraptor.evaluation.compare.table import (
    fmt_interval,
    run_label,
    runs_text,
    significance_lines,
)
from qraptor.evaluation.metric_names import AGENT, metric_key
from qraptor.evaluation.report import evaluation_figure

log = get_logger(__name__)

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em;
       color: #222; max-width: 1400px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: right; }
th { background: #f4f4f4; } td.text, th.text { text-align: left; }
.note { color: #8a6d00; } .dsr { font-size: 1.1em; font-weight: bold; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.glossary { font-size: 0.85em; color: #555; }
"""
STYLE += status_css()  # the statuses' colours, defined once


GLOSSARY = (
    "IQM: interquartile mean, the mean of the middle 50% of runs. Intervals: the mean's is a "
    "Student-t interval over the runs (folds weighted equally), honest with 3-5 seeds; the "
    "IQM's is a stratified percentile bootstrap (runs resampled within each fold), too narrow "
    "under 10 runs. "
    "P(&gt; baseline): probability that a run beats the baseline on the same span (ties count "
    "1/2). PSR(0): probability that the true per-bar Sharpe ratio is above 0 given the number "
    "of bars, skewness and kurtosis of the returns. DSR: the same probability against SR0, the "
    "Sharpe ratio the best of N skill-less trials would show (Bailey &amp; L&oacute;pez de "
    "Prado 2014); N counts every trial of the sweep, finished or not. Verdict: an edge over "
    "buy-and-hold after costs is claimed only when PSR(0) of the agent-minus-buy-and-hold "
    "returns, PSR(0) of the agent's own returns and the DSR are all at least 0.95."
)


def figure_tag(fig: Figure, alt: str) -> str:
    """An <img> with the figure as an inline PNG; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _e(value: object) -> str:
    return html.escape(str(value))


def _run_cell(comparison_cfg: CompareConfig, record) -> str:
    label = _e(run_label(record))
    if record.mlflow_run_id and comparison_cfg.mlflow_ui:
        url = f"{comparison_cfg.mlflow_ui.rstrip('/')}/#/runs/{record.mlflow_run_id}"
        return f'<a href="{_e(url)}">{label}</a>'
    return label


def runs_section(comparison: Comparison, cfg: CompareConfig) -> str:
    head = ['<th class="text">run</th>', '<th class="text">status</th>']
    if comparison.varying:
        head.append('<th class="text">config (differences)</th>')
    head += [f"<th>{_e(c)}</th>" for c in comparison.columns]  # metric keys, as in MLflow
    head.append('<th class="text">MLflow run</th>')
    body = []
    for row in comparison.rows:
        r = row.record
        cells = [f'<td class="text">{_run_cell(cfg, r)}</td>',
                 f'<td class="text {_e(r.status)}">{_e(r.status)}</td>']  # fmt: skip
        if comparison.varying:
            diff = "<br>".join(f"{_e(k)}={_e(format_value(v))}" for k, v in row.params.items())
            cells.append(f'<td class="text">{diff}</td>')
        cells += [f"<td>{_e(format_value(row.values[c]))}</td>" for c in comparison.columns]
        cells.append(f'<td class="text">{_e(r.mlflow_run_id or "-")}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f"<h2>Runs on the {_e(comparison.split)} split</h2><table><tr>{''.join(head)}</tr>"
            f"{''.join(body)}</table>")  # fmt: skip


def groups_section(comparison: Comparison) -> str:
    if not comparison.groups:
        return ""
    metrics = list(comparison.groups[0].metrics)
    head = ['<th class="text">configuration</th>', "<th>runs</th>"]
    for metric in metrics:
        key = _e(metric_key(comparison.split, AGENT, metric))
        head += [f"<th>{key} mean</th>", f"<th>{key} IQM</th>"]
    head.append(f"<th>P(&gt; {_e(comparison.baseline.replace('_', ' '))})</th>")
    rows = []
    for group in comparison.groups:
        first = group.metrics[metrics[0]]
        cells = [f'<td class="text">{_e(group.label)}</td>', f"<td>{_e(runs_text(first))}</td>"]
        for metric in metrics:
            summary = group.metrics[metric]
            cells += [f"<td>{_e(fmt_interval(summary.mean))}</td>",
                      f"<td>{_e(fmt_interval(summary.iqm))}</td>"]  # fmt: skip
        cells.append(f"<td>{_e(fmt_interval(group.beats_baseline))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return ("<h2>Groups of repeats (seeds &times; folds)</h2>"
            f"<table><tr>{''.join(head)}</tr>{''.join(rows)}</table>")  # fmt: skip


def significance_section(comparison: Comparison) -> str:
    lines = significance_lines(comparison)
    if not lines:
        return ""
    rows = "".join(
        f'<tr><th class="text">{_e(name)}</th><td class="text'
        f'{" dsr" if name.startswith("deflated") else ""}">{_e(value)}</td></tr>'
        for name, value in lines
    )
    return f"<h2>Sweep: deflated Sharpe ratio of the best trial</h2><table>{rows}</table>"


def figures_section(
    comparison: Comparison, cfg: CompareConfig, load_equity: EquityLoader | None
) -> str:
    parts: list[str] = []
    split = comparison.split
    ranked = sorted(
        (r for r in comparison.records if math.isfinite(r.value(split, "sharpe"))),
        key=lambda r: -r.value(split, "sharpe"),
    )
    frames = {}
    if load_equity is not None:
        for record in ranked[: max(cfg.report.equity_plots, 0)]:
            frame = load_equity(record, split)
            if frame is not None:
                frames[run_label(record)] = frame
    if frames:
        title = f"{split} split: equity of the best runs against the baselines (same costs)"
        first = next(iter(frames.values()))
        parts.append(figure_tag(compare_plots.equity_overlay(frames, first, title), title))
        for label, frame in frames.items():
            heading = f"{label}: {split} split, agent vs baselines, drawdown, position"
            parts.append(figure_tag(evaluation_figure(frame, heading), heading))
    elif ranked:
        parts.append('<p class="note">no equity curves stored for these runs '
                     "(in-process trials keep theirs in their run folders)</p>")  # fmt: skip
    dist = compare_plots.metric_distributions(comparison)
    if dist is not None:
        parts.append(figure_tag(dist, "metric distributions across seeds"))
    skip = {*cfg.seed_keys, *cfg.ignore_keys}
    params = compare_plots.sharpe_vs_params(comparison, skip, cfg.report.max_params)
    if params is not None:
        parts.append(figure_tag(params, "Sharpe ratio against the parameters"))
    return "<h2>Figures</h2>" + "".join(parts) if parts else ""


def comparison_html(
    comparison: Comparison, cfg: CompareConfig, load_equity: EquityLoader | None = None
) -> str:
    """The whole page."""
    counts = ", ".join(f"{n} {s}" for s, n in sorted(comparison.status_counts.items()))
    notes = "".join(f'<p class="note">note: {_e(n)}</p>' for n in comparison.notes)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "".join([
        f"<h1>{_e(comparison.title)}</h1>",
        f"<p>{len(comparison.records)} runs ({_e(counts)}); metrics of the "
        f"<b>{_e(comparison.split)}</b> split; baseline {_e(comparison.baseline)}; {stamp}.</p>",
        significance_section(comparison),
        notes,
        runs_section(comparison, cfg),
        groups_section(comparison),
        figures_section(comparison, cfg, load_equity),
        f'<p class="glossary">{GLOSSARY}</p>',
    ])  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(comparison.title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def write_comparison_html(
    comparison: Comparison, path: str | Path, cfg: CompareConfig, load_equity: EquityLoader | None
) -> Path:
    """Write the page to `path` atomically; returns the path."""
    write_text_atomic(path, comparison_html(comparison, cfg, load_equity))
    log.info("comparison report: %s", path)
    return Path(path)
