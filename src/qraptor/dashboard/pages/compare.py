"""`/compare?sweep=ID` or `?experiment=NAME`: many sessions side by side. The runs with
their config differences and metrics, groups of seeds with mean/IQM and CIs, the Sharpe
ratio against each varying parameter, and for a sweep the PSR and deflated Sharpe ratio of
the best trial. The numbers are `qraptor compare`'s (the same `compare_runs`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from dash import Dash, Input, Output, dash_table, dcc, html

from qraptor.core.formatting import format_metric, format_value
from qraptor.dashboard import result_figures
from qraptor.dashboard.components import TABLE_STYLE, notice, simple_table, status_styles
from qraptor.dashboard.problems import Unavailable
from qraptor.dashboard.sources import Sources
from qraptor.evaluation.compare.comparison import Comparison, compare_runs
from qraptor.evaluation.compare.table import (
    fmt_interval,
    run_label,
    runs_text,
    significance_lines,
)
from qraptor.evaluation.metric_names import AGENT, metric_key
from qraptor.store.errors import StoreError

if TYPE_CHECKING:
    from dash.dash_table.DataTable import DataTable  # why: see components.py

PATH = "/compare"
MAX_LINK_LOOKUPS = 100  # MLflow experiment lookups per table; further rows link by run id


EMPTY = Unavailable(
    "a comparison",
    "the store holds no sweep or experiment yet",
    "qraptor train -m session.seed=0,1,2  (three seeds in process; add hydra/launcher=mongo to "
    "queue them)",
)


def layout(sources: Sources, sweep: str | None = None, experiment: str | None = None) -> Any:
    try:
        options = _targets(sources)
    except Unavailable as problem:
        return html.Div([html.H2("Compare"), notice(problem)])
    chosen = f"sweep:{sweep}" if sweep else f"experiment:{experiment}" if experiment else None
    if chosen is None and options:
        chosen = options[0]["value"]
    return html.Div(
        [
            html.H2("Compare"),
            dcc.Dropdown(
                id="compare-target",
                options=options,
                value=chosen,
                clearable=False,
                placeholder="no sweep or experiment in the store yet",
                style={"maxWidth": "640px"},
            ),
            html.Div(_body(sources, chosen) if chosen else notice(EMPTY), id="compare-body"),
        ]
    )


def register(app: Dash, sources: Sources) -> None:
    @app.callback(
        Output("compare-body", "children"),
        Input("compare-target", "value"),
        prevent_initial_call=True,
    )
    def show(target: str | None) -> Any:
        return _body(sources, target) if target else []


def _targets(sources: Sources) -> list[dict[str, str]]:
    """Sweeps (sessions and ledger trials), then experiments, newest first."""
    from qraptor.store.ledger import list_trials

    collection = sources.settings.ledger_collection
    limit = sources.settings.compare.limit

    def read(store) -> list[dict[str, Any]]:
        sessions = store.list(limit=limit)
        trials = list_trials(store, collection=collection, limit=limit)
        return sessions + trials[::-1]

    docs = sources.store.call(read)
    sweeps: dict[str, int] = {}
    experiments: dict[str, int] = {}
    for doc in docs:
        if doc.get("sweep_id"):
            sweeps[doc["sweep_id"]] = sweeps.get(doc["sweep_id"], 0) + 1
        name = doc.get("experiment") or "default"
        experiments[name] = experiments.get(name, 0) + 1
    return [
        {"label": f"sweep {s} ({n} trials)", "value": f"sweep:{s}"} for s, n in sweeps.items()
    ] + [
        {"label": f"experiment {e} ({n} runs)", "value": f"experiment:{e}"}
        for e, n in experiments.items()
    ]


def _body(sources: Sources, target: str) -> list[Any]:
    kind, _, name = target.partition(":")
    try:
        comparison = sources.store.call(lambda store: _compare(sources, store, kind, name))
    except Unavailable as problem:
        return [notice(problem)]
    except StoreError as exc:  # e.g. a sweep id with no sessions
        return [notice(Unavailable(f"{kind} {name}", str(exc), "qraptor sessions list"))]
    parts: list[Any] = [
        html.H3(comparison.title),
        html.Div(
            ", ".join(f"{n} {s}" for s, n in sorted(comparison.status_counts.items())),
            className="muted",
            id="compare-counts",
        ),
        _significance(comparison, kind),
        html.H3(f"Runs on the {comparison.split} split"),
        _runs_table(sources, comparison),
    ]
    parts += [html.Div(note, className="note") for note in comparison.notes]
    parts.append(_groups(comparison))
    config: dcc.Graph.Config = {"displaylogo": False}
    scatter = result_figures.params_vs_sharpe(
        comparison, sources.settings.compare.report.max_params
    )
    if scatter is not None:
        parts.append(dcc.Graph(id="params-graph", figure=scatter, config=config))
    return parts


def _compare(sources: Sources, store, kind: str, name: str) -> Comparison:
    from qraptor.store.run_records import GridFSEquity, experiment_records, sweep_records

    cfg = sources.settings.compare
    collection = sources.settings.ledger_collection
    if kind == "sweep":
        records = sweep_records(store, name, collection=collection, limit=cfg.limit)
    else:
        records = experiment_records(store, name, collection=collection, limit=cfg.limit)
    with GridFSEquity(store) as load_equity:
        return compare_runs(
            records, cfg, title=f"{kind} {name}", sweep=kind == "sweep", load_equity=load_equity
        )


def _significance(comparison: Comparison, kind: str) -> html.Section:
    lines = significance_lines(comparison)
    if not lines:
        why = (
            "the deflated Sharpe ratio judges the best trial of a sweep: pick a sweep"
            if kind != "sweep"
            else "no finished trial with a Sharpe ratio yet"
        )
        return html.Section(
            [html.H3("Deflated Sharpe ratio"), html.Div(why, className="muted")], id="dsr-panel"
        )
    rows = [html.Tr([html.Th(k), html.Td(v)]) for k, v in lines]
    return html.Section(
        [
            html.H3("Deflated Sharpe ratio of the best trial"),
            html.Table(html.Tbody(rows), className="plain kv-table"),
        ],
        id="dsr-panel",
    )


def _runs_table(sources: Sources, comparison: Comparison) -> DataTable:
    titles = [
        "run",
        "status",
        *comparison.varying,
        *comparison.columns,  # metric keys (val/agent/sharpe), as MLflow and DVC name them
        "MLflow",
    ]
    rows = []
    for i, row in enumerate(comparison.rows):
        record = row.record
        label = run_label(record)
        url = sources.links.run_url(record.mlflow_run_id) if i < MAX_LINK_LOOKUPS else None
        if url is None and record.mlflow_run_id:
            url = f"{sources.settings.mlflow_ui}/#/runs/{record.mlflow_run_id}"
        values = [
            f"[{label}](/session/{record.id})" if record.source == "session" else label,
            record.status,
            *(format_value(row.params[k]) for k in comparison.varying),
            *(format_metric(c.rsplit("/", 1)[-1], row.values[c]) for c in comparison.columns),
            # a url is only made for a run id (run_url(None) is None)
            f"[{cast(str, record.mlflow_run_id)[:8]}]({url})" if url else "none",
        ]
        rows.append({_column_id(t): v for t, v in zip(titles, values, strict=True)})
    markdown = {"run", "MLflow"}
    return dash_table.DataTable(  # type: ignore[operator]  # see components.py
        id="compare-table",
        data=rows,
        columns=[
            {
                "name": t,
                "id": _column_id(t),
                **({"presentation": "markdown"} if t in markdown else {}),
            }
            for t in titles
        ],
        sort_action="native",
        markdown_options={"link_target": "_self"},
        style_data_conditional=status_styles(),
        **TABLE_STYLE,
    )


def _column_id(title: str) -> str:
    """DataTable column ids hold no dots (its filter syntax reads them as paths) nor slashes
    (metric keys: the header keeps the name, the id is internal)."""
    return title.replace(".", "_").replace("/", "__")


def _groups(comparison: Comparison) -> Any:
    if not comparison.groups:
        return html.Div()
    metrics = list(comparison.groups[0].metrics)
    rows = []
    for group in comparison.groups:
        row = {"configuration": group.label, "runs": runs_text(group.metrics[metrics[0]])}
        for metric in metrics:  # named as MLflow names the runs' metric: val/agent/sharpe
            key = metric_key(comparison.split, AGENT, metric)
            row[f"{key} mean"] = fmt_interval(group.metrics[metric].mean, metric)
            row[f"{key} IQM"] = format_metric(metric, group.metrics[metric].iqm.estimate)
        row[f"P(> {comparison.baseline})"] = fmt_interval(group.beats_baseline)
        rows.append(row)
    columns = list(rows[0])
    return html.Section(
        [
            html.H3("Groups of seeds (mean with its 95% t-interval; IQM)"),
            simple_table(rows, columns, "groups-table"),
        ]
    )
