"""Small layout pieces every page uses: the notice that replaces a missing input, status
badges, key-value lines, plain tables and number formatting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dash import dash_table, html

from qraptor.core.formatting import STATUS_COLOURS, format_value
from qraptor.dashboard.problems import Unavailable

if TYPE_CHECKING:
    # dash/dash_table/__init__.py starts with a file-level `# type: ignore`, so mypy skips
    # its `from ._imports_ import *` and takes `dash_table.DataTable` for the submodule
    # DataTable.py, "not callable" (each call carries an ignore[operator]); at run time it is
    # the class, re-exported. The class itself is typed, in that submodule.
    from dash.dash_table.DataTable import DataTable

TABLE_STYLE = {
    "style_table": {"overflowX": "auto"},
    "style_cell": {
        "fontFamily": "inherit",
        "fontSize": "13px",
        "padding": "4px 8px",
        "textAlign": "left",
        "maxWidth": "420px",
        "whiteSpace": "normal",
    },
    "style_header": {"backgroundColor": "#f4f4f4", "fontWeight": "600"},
}


def notice(problem: Unavailable, element_id: str | None = None) -> html.Div:
    """What is missing and the command that makes it, in place of a section."""
    props: dict[str, Any] = {"id": element_id} if element_id else {}
    return html.Div(
        [
            html.Strong(f"Not available: {problem.what}"),
            html.Div(problem.why),
            html.Div(["Fix: ", html.Code(problem.fix)]),
        ],
        className="notice",
        **props,
    )


def status_badge(status: str) -> html.Span:
    colour = STATUS_COLOURS.get(str(status), "#555")
    return html.Span(status, className="badge", style={"backgroundColor": colour})


def key_values(items: Sequence[tuple[str, Any]]) -> html.Div:
    """`key value · key value` on one wrapped line; empty values left out."""
    parts: list[Any] = []
    for key, value in items:
        if value in (None, ""):
            continue
        if parts:
            parts.append(" · ")
        parts += [html.Span(key, className="key"), " ", value]
    return html.Div(parts, className="kv")


def status_styles() -> list[dict[str, Any]]:
    """DataTable conditional styles colouring the `status` column."""
    return [
        {
            "if": {"filter_query": f'{{status}} = "{s}"', "column_id": "status"},
            "color": colour,
            "fontWeight": "600",
        }
        for s, colour in STATUS_COLOURS.items()
    ]


def simple_table(
    rows: list[dict[str, Any]], columns: Sequence[str], element_id: str, **options: Any
) -> DataTable:
    """A read-only DataTable of `rows` (values formatted by `format_value`)."""
    shown = [
        {k: format_value(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows
    ]
    return dash_table.DataTable(  # type: ignore[operator]  # see the DataTable import
        id=element_id,
        data=shown,
        columns=[{"name": c, "id": c} for c in columns],
        **{**TABLE_STYLE, **options},
    )
