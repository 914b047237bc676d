"""`/data`: the bars with the split boundaries, the cleaning report, features, the splits.

Each section reads one DVC output and fails alone: a missing features file leaves the bars
and the cleaning report visible, with a notice naming the file and `dvc repro`.
"""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, dcc, html

from qraptor.dashboard import data_figures, pipeline_outputs
from qraptor.dashboard.components import key_values, notice, simple_table
from qraptor.dashboard.problems import Unavailable
from qraptor.dashboard.sources import Sources

PATH = "/data"


def layout(sources: Sources) -> html.Div:
    project = sources.settings.project
    return html.Div(
        [
            html.H2("Data"),
            html.Div(f"DVC outputs under {project}", className="muted"),
            _section("Bars", lambda: _bars(sources), "bars-section"),
            _section("Cleaning report", lambda: _cleaning(sources), "clean-section"),
            _section("Features", lambda: _features(sources), "features-section"),
            _section("Splits", lambda: _splits(sources), "splits-section"),
        ]
    )


def register(app: Dash, sources: Sources) -> None:
    @app.callback(
        Output("feature-graph", "figure"),
        Input("feature-choice", "value"),
        prevent_initial_call=True,
    )
    def show_feature(column: str) -> Any:
        view = pipeline_outputs.features_view(sources.settings.project)
        return data_figures.feature_figure(view.view, column)


def _section(title: str, build, element_id: str) -> html.Section:
    try:
        body = build()
    except Unavailable as problem:
        body = [notice(problem)]
    # one flat list: Dash renders components nested in a list inside children as raw objects
    return html.Section([html.H3(title), *body], id=element_id)


def _bars(sources: Sources) -> list[Any]:
    project = sources.settings.project
    bars = pipeline_outputs.bars_view(project)
    try:
        meta = pipeline_outputs.split_metadata(project)
    except Unavailable:
        meta = None
    summary = pipeline_outputs.reduce_summary(project)
    return [
        key_values(
            [
                ("bars", f"{bars.bars:,}"),
                ("from", f"{bars.first:%Y-%m-%d %H:%M}"),
                ("to", f"{bars.last:%Y-%m-%d %H:%M}"),
                ("kind", summary.get("bar_kind")),
                ("frequency", summary.get("frequency")),
            ]
        ),
        dcc.Graph(
            id="price-graph",
            figure=data_figures.price_figure(bars, meta),
            config={"displaylogo": False},
        ),
    ]


def _cleaning(sources: Sources) -> list[Any]:
    report = pipeline_outputs.clean_report(sources.settings.project)
    details = report.get("details") or {}
    rows = []
    for rule, count in (report.get("rules") or {}).items():
        detail = details.get(rule) or {}
        examples = detail.get("examples") or []
        rows.append(
            {
                "rule": rule,
                "rows": count,
                "action": detail.get("action", ""),
                "what it checks": detail.get("description", ""),
                "first example": examples[0] if examples else "",
            }
        )
    return [
        key_values(
            [
                ("rows in", f"{report.get('rows_in', 0):,}"),
                ("rows out", f"{report.get('rows_out', 0):,}"),
                ("dropped", f"{report.get('rows_dropped', 0):,}"),
                ("violations", f"{report.get('violations', 0):,}"),
                ("longest gap", f"{report.get('gap_longest_seconds', 0):,.0f} s"),
            ]
        ),
        simple_table(
            rows, ["rule", "rows", "action", "what it checks", "first example"], "clean-table"
        ),
    ]


def _features(sources: Sources) -> list[Any]:
    view = pipeline_outputs.features_view(sources.settings.project)
    first = view.columns[0]
    return [
        key_values([("rows", f"{view.rows:,}"), ("features", len(view.columns))]),
        dcc.Dropdown(
            id="feature-choice",
            options=view.columns,
            value=first,
            clearable=False,
            style={"maxWidth": "320px"},
        ),
        dcc.Graph(
            id="feature-graph",
            figure=data_figures.feature_figure(view.view, first),
            config={"displaylogo": False},
        ),
    ]


def _splits(sources: Sources) -> list[Any]:
    meta = pipeline_outputs.split_metadata(sources.settings.project)
    chrono = meta.get("chrono") or {}
    rows = [
        {
            "span": name,
            "label": span["label"],
            "bars": span["rows"],
            "first": span.get("first") or "",
            "last": span.get("last") or "",
        }
        for name, span in (chrono.get("spans") or {}).items()
    ]
    counts = chrono.get("counts") or {}
    parts: list[Any] = [
        key_values(
            [
                ("bars", f"{meta.get('rows', 0):,}"),
                ("embargo", f"{meta.get('embargo_bars', 0)} bars"),
                ("normalisation", (meta.get("normalize") or {}).get("method")),
                *((label, f"{n:,}") for label, n in counts.items()),
            ]
        ),
        simple_table(rows, ["span", "label", "bars", "first", "last"], "splits-table"),
    ]
    folds = data_figures.folds_figure(meta)
    if folds is not None:
        parts.append(dcc.Graph(id="folds-graph", figure=folds, config={"displaylogo": False}))
    return parts
