"""The agent next to its baselines, per split: one table, built once for every screen.

`qraptor train` and `qraptor evaluate` print it, `qraptor sessions show` prints it for a
stored session, the dashboard's session page shows it; the rows come from a session summary
(qraptor.train.summary: ``splits -> {agent, baselines}``) or from the DVC metrics file
(its flat ``<split>/<policy>/<metric>`` keys nested by evaluation.report.dvc_sections:
``split -> {agent, <baseline>...}``), and every number goes through
`core.formatting.format_metric`. Next to each Sharpe ratio stands its PSR(0), the probability
that the true Sharpe is above 0 given the bars it came from; under the table, one verdict line
per split (evaluation.verdict).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.table import Table

from qraptor.core.formatting import format_metric
from qraptor.evaluation.metric_names import AGENT
from qraptor.evaluation.verdict import Verdict, sharpe_psr

# metric -> header: short, so that the table fits an 80-column terminal
COLUMNS = {
    "total_return": "return",
    "sharpe": "Sharpe",
    "psr": "PSR",
    "max_drawdown": "max DD",
    "turnover": "turnover",
    "costs_paid": "costs",
    "n_trades": "trades",
}
VERDICT = "verdict"  # a split's verdict (summary: Verdict.to_dict; DVC metrics: to_metrics)
BEATS_RANDOM_SHARE = "agent_beats_random_share"  # a summary's split key (train.summary)


@dataclass(frozen=True)
class PolicyRow:
    split: str
    policy: str  # "agent" or a baseline's name
    metrics: Mapping[str, Any]

    @property
    def is_agent(self) -> bool:
        return self.policy == AGENT

    def cells(self, columns: Iterable[str]) -> list[str]:
        return [format_metric(column, self.metrics.get(column)) for column in columns]


def policy_rows(splits: Mapping[str, Any]) -> list[PolicyRow]:
    """One row per split and policy, the agent first. `splits` is a session summary's
    ``splits`` (baselines under ``baselines``) or the DVC metrics dict (baselines beside the
    agent); entries that are not a split (the objective, timesteps) are skipped."""
    rows: list[PolicyRow] = []
    for split, section in splits.items():
        if not isinstance(section, Mapping) or not isinstance(section.get(AGENT), Mapping):
            continue
        rows.append(PolicyRow(split, AGENT, _with_psr(section[AGENT])))
        baselines = section.get("baselines")
        if not isinstance(baselines, Mapping):
            baselines = {
                k: v
                for k, v in section.items()
                if k not in (AGENT, VERDICT) and isinstance(v, Mapping)
            }
        rows += [PolicyRow(split, name, _with_psr(metrics)) for name, metrics in baselines.items()]
    return rows


def _with_psr(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    """The DVC metrics file carries `psr`; a session summary's metrics give it from the
    per-bar moments."""
    return metrics if "psr" in metrics else {**metrics, "psr": sharpe_psr(metrics)}


def rich_table(
    rows: Iterable[PolicyRow],
    title: str = "agent vs baselines (same span, same costs)",
    columns: Mapping[str, str] = COLUMNS,
    caption: str | None = None,
) -> Table:
    """The rows as a terminal table: split, policy, then `columns`; the agent in bold."""
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,  # no column rules and collapsed padding: nine columns and a
        collapse_padding=True,  # 14-character baseline name fit an 80-column terminal
        pad_edge=False,
        caption=caption,
        caption_justify="left",
        caption_style="none",  # the verdict is the point of the table, not a footnote
    )
    table.add_column("split", no_wrap=True)
    table.add_column("policy", no_wrap=True)
    for header in columns.values():
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            row.split, row.policy, *row.cells(columns), style="bold" if row.is_agent else None
        )
    return table


def beats_random_caption(splits: Mapping[str, Any]) -> str | None:
    """ "agent's Sharpe above the matched random runs': val 75%, test 50%", from the
    summary's share."""
    shares = [
        f"{split} {section[BEATS_RANDOM_SHARE]:.0%}"
        for split, section in splits.items()
        if isinstance(section, Mapping) and section.get(BEATS_RANDOM_SHARE) is not None
    ]
    return "agent's Sharpe above the matched random runs': " + ", ".join(shares) if shares else None


def verdict_lines(splits: Mapping[str, Any]) -> list[str]:
    """ "val: no evidence of an edge over buy-and-hold after costs (PSR 0.41 ...)", one per
    split that has a verdict (a summary's or the DVC metrics file's)."""
    return [
        f"{split}: {Verdict.from_dict(split, section[VERDICT]).text}"
        for split, section in splits.items()
        if isinstance(section, Mapping) and isinstance(section.get(VERDICT), Mapping)
    ]


def report_caption(splits: Mapping[str, Any]) -> str | None:
    """What stands under the table: the random runs' share, then each split's verdict."""
    lines = [line for line in (beats_random_caption(splits),) if line] + verdict_lines(splits)
    return "\n".join(lines) or None
