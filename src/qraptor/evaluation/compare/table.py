"""The comparison in a terminal: runs, groups of seeds and the sweep's deflated Sharpe, with rich.

The same texts (`run_label`, `significance_lines`, numbers by `core.formatting.format_value`)
feed the HTML report, so the two never disagree on a number's rounding or a run's name.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from qraptor.core.formatting import STATUS_STYLES, format_metric, format_value
from qraptor.evaluation.compare.comparison import Comparison, RunRecord
from qraptor.evaluation.metric_names import AGENT, metric_key
from qraptor.evaluation.statistics import Interval, RunSummary


def fmt_interval(interval: Interval, metric: str | None = None) -> str:
    """`estimate [low, high]`, in the metric's unit when it is named (-6.60% [-7.1%, ...])."""

    def fmt(value: float | None) -> str:
        return format_metric(metric, value) if metric else format_value(value)

    return f"{fmt(interval.estimate)} [{fmt(interval.low)}, {fmt(interval.high)}]"


def runs_text(summary: RunSummary) -> str:
    """'4' for one stratum, '8 (2 folds)' for several."""
    return str(summary.runs) if summary.strata <= 1 else f"{summary.runs} ({summary.strata} folds)"


def run_label(record: RunRecord) -> str:
    """Sessions by id; ledger trials as `trial <sweep>/<n>`."""
    return record.id if record.source == "session" else f"trial {record.id}"


def significance_lines(comparison: Comparison) -> list[tuple[str, str]]:
    """(name, value) lines of the sweep's significance, for the panel and the HTML."""
    sweep, best = comparison.sweep, comparison.best
    if sweep is None or best is None:
        return []
    counts = ", ".join(f"{n} {s}" for s, n in sorted(comparison.status_counts.items()))
    split, moments = comparison.split, sweep.best
    return [
        ("trials (N)", f"{sweep.n_trials} ({counts})"),
        (
            "best",
            f"{run_label(best)}: {split} Sharpe "
            f"{format_value(best.value(split, 'sharpe'))} (annualised)",
        ),
        (
            "per-bar Sharpe of the best",
            f"{format_value(moments.sharpe)} over T = {moments.bars} bars, skewness "
            f"{format_value(moments.skewness)}, kurtosis {format_value(moments.kurtosis)}",
        ),
        (
            "V[SR] of finished trials",
            f"{format_value(sweep.sharpe_variance)} ({sweep.n_finished} trials, per bar)",
        ),
        ("expected max Sharpe SR0", f"{format_value(sweep.expected_max_sharpe)} per bar"),
        ("probabilistic Sharpe PSR(0)", format_value(sweep.psr)),
        (
            "deflated Sharpe DSR",
            f"{format_value(sweep.dsr)}  (P[true Sharpe > SR0]; >= 0.95 is the usual bar)",
        ),
        *([("verdict", comparison.verdict.text)] if comparison.verdict is not None else []),
    ]


SHORT_RUN_ID = 8  # an MLflow run id's first characters, when the full one does not fit
CELL_PADDING = 3  # rich's padding and separator per column


def runs_table(comparison: Comparison, width: int | None = None) -> Table:
    """Runs, one row each: id and status whole (what `qraptor sessions show` and MLflow are
    searched by), then the config differences and the metrics. Within `width` columns (the
    terminal's) the metric columns that do not fit are left out, and the caption says
    which and how to see them; with no width, every column."""
    headers = ["run", "status"] + (["config (differences)"] if comparison.varying else [])
    rows: list[list[str]] = []
    for row in comparison.rows:
        record = row.record
        cells = [run_label(record), record.status]
        if comparison.varying:
            cells.append(", ".join(f"{k}={format_value(v)}" for k, v in row.params.items()))
        cells += [format_metric(c.rsplit("/", 1)[-1], row.values[c]) for c in comparison.columns]
        cells.append(record.mlflow_run_id or "-")
        rows.append(cells)
    metrics = list(comparison.columns)  # metric keys, as MLflow and DVC name them
    shown, short_ids = _fitting(headers, metrics, rows, width)
    table = Table(
        title=f"{comparison.title}: runs on the {comparison.split} split", title_justify="left"
    )
    table.add_column("run", no_wrap=True)
    table.add_column("status", no_wrap=True)
    if comparison.varying:
        table.add_column("config (differences)", overflow="fold")
    for column in metrics[:shown]:
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("mlflow run", no_wrap=True)
    fixed = len(headers)
    for cells, row in zip(rows, comparison.rows, strict=True):
        run_id = cells[-1][:SHORT_RUN_ID] if short_ids and cells[-1] != "-" else cells[-1]
        status = Text(row.record.status, style=STATUS_STYLES.get(row.record.status, ""))
        table.add_row(cells[0], status, *cells[2:fixed], *cells[fixed : fixed + shown], run_id)
    if shown < len(metrics):
        table.caption = (
            f"{len(metrics) - shown} more column(s) ({', '.join(metrics[shown:])}): "
            "--wide, or the HTML report"
        )
        table.caption_justify = "left"
    return table


def _fitting(
    headers: list[str], metrics: list[str], rows: list[list[str]], width: int | None
) -> tuple[int, bool]:
    """How many metric columns fit in `width`, and whether run ids are cut to fit."""
    if width is None:
        return len(metrics), False

    def column(index: int, header: str, cap: int | None = None) -> int:
        longest = max([len(header), *(len(r[index]) for r in rows)])
        return min(longest, cap) + CELL_PADDING if cap else longest + CELL_PADDING

    fixed = sum(column(i, h, 30 if h.startswith("config") else None) for i, h in enumerate(headers))
    used = fixed + SHORT_RUN_ID + CELL_PADDING
    shown = 0
    for offset, header in enumerate(metrics):
        need = column(len(headers) + offset, header)
        if used + need > width:
            break
        used += need
        shown += 1
    full_id = max((len(r[-1]) for r in rows), default=0)
    return shown, used - SHORT_RUN_ID + full_id > width


def groups_table(comparison: Comparison) -> Table | None:
    """One row per configuration: per metric the mean with its t-interval (honest with a few
    seeds), the IQM below it (the HTML report gives the IQM's bootstrap CI too)."""
    if not comparison.groups:
        return None
    metrics = list(comparison.groups[0].metrics)
    table = Table(
        title=f"groups of repeats (seeds x folds): mean [{_confidence(comparison)} t-interval] "
        "and IQM",
        title_justify="left",
    )
    table.add_column("configuration", overflow="fold", min_width=24)
    table.add_column("runs", justify="right")
    for metric in metrics:  # named as MLflow names the runs' metric: val/agent/sharpe
        table.add_column(metric_key(comparison.split, AGENT, metric), justify="right")
    table.add_column(f"P(> {comparison.baseline.replace('_', ' ')})", justify="right")
    for group in comparison.groups:
        cells = [group.label, runs_text(group.metrics[metrics[0]])]
        for metric in metrics:
            summary = group.metrics[metric]
            iqm = format_metric(metric, summary.iqm.estimate)
            cells.append(f"{fmt_interval(summary.mean, metric)}\nIQM {iqm}")
        cells.append(fmt_interval(group.beats_baseline))
        table.add_row(*cells)
    return table


def _confidence(comparison: Comparison) -> str:
    for group in comparison.groups:
        for summary in group.metrics.values():
            return f"{summary.mean.confidence:.0%}"
    return ""


def render(comparison: Comparison, console: Console, wide: bool = False) -> None:
    """Print the comparison: runs, groups, the sweep's significance and notes; the runs
    within the console's width unless `wide`."""
    parts: list[Any] = [runs_table(comparison, None if wide else console.width)]
    groups = groups_table(comparison)
    if groups is not None:
        parts.append(groups)
    lines = significance_lines(comparison)
    if lines:
        body = "\n".join(f"[bold]{escape(name)}[/]: {escape(value)}" for name, value in lines)
        parts.append(Panel(body, title="sweep: is the best Sharpe more than luck?", expand=False))
    for note in comparison.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    console.print(Group(*parts))
