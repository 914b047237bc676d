"""`/sessions`: the queue, live. Counts per status, every session with its progress and,
for failed ones, the reason; who is running what; cancel and retry of selected sessions.

One callback serves the refresh timer and both buttons, so the table has a single writer.
Selection is kept by session id across refreshes (a row index would slide onto another
session when a new one is queued above it, and the next click would cancel the wrong one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from dash import Dash, Input, Output, State, ctx, dash_table, dcc, html

from qraptor.core.errors import QraptorError
from qraptor.dashboard.components import TABLE_STYLE, notice, status_styles
from qraptor.dashboard.pipeline_session import PIPELINE_ID, headline, pipeline_doc
from qraptor.dashboard.problems import Unavailable
from qraptor.dashboard.queue_view import session_row, worker_rows
from qraptor.dashboard.sources import Sources

if TYPE_CHECKING:
    from collections.abc import Callable

    from qraptor.store.store import SessionStore

    # mypy cannot infer a lambda with a bound default (i=...) against call()'s generic
    StoreAction = Callable[[SessionStore], None]

PATH = "/sessions"
EMPTY = Unavailable(
    "sessions",
    "this database holds none yet",
    "qraptor train -m hydra/launcher=mongo session.seed=0,1,2  (queues three; `qraptor worker` "
    "trains them)",
)
LIMIT = 500  # sessions listed, newest first
COLUMNS = [
    ("session", "session"),
    ("status", "status"),
    ("experiment", "experiment"),
    ("sweep", "sweep"),
    ("priority", "priority"),
    ("worker", "worker"),
    ("progress", "progress"),
    ("attempts", "attempts"),
    ("reason", "failure reason"),
    ("created", "created (UTC)"),
]


def layout(sources: Sources) -> html.Div:
    state = _queue_state(sources, [])
    refresh = int(sources.settings.refresh_seconds * 1000)
    return html.Div(
        [
            html.H2("Sessions"),
            html.Div(_pipeline_agent(sources), id="pipeline-agent", className="pipeline"),
            html.Div(state["problem"], id="queue-problem"),
            html.Div(state["counts"], id="status-counts", className="counts"),
            html.Div(
                [
                    html.Button("Cancel selected", id="cancel-button", n_clicks=0),
                    html.Button("Retry selected", id="retry-button", n_clicks=0),
                    html.Span(id="queue-message", className="muted"),
                ],
                className="actions",
            ),
            dash_table.DataTable(  # type: ignore[operator]  # see components.py
                id="sessions-table",
                data=state["rows"],
                columns=[
                    {"name": title, "id": key, "presentation": "markdown"}
                    if key == "session"
                    else {"name": title, "id": key}
                    for key, title in COLUMNS
                ],
                row_selectable="multi",
                selected_rows=[],
                sort_action="native",
                markdown_options={"link_target": "_self"},
                filter_action="native",
                page_size=25,
                style_data_conditional=status_styles(),
                **TABLE_STYLE,
            ),
            html.H3("Workers"),
            html.Div(state["workers"], id="workers"),
            dcc.Interval(id="queue-refresh", interval=refresh),
        ]
    )


def register(app: Dash, sources: Sources) -> None:
    @app.callback(
        Output("queue-problem", "children"),
        Output("status-counts", "children"),
        Output("sessions-table", "data"),
        Output("sessions-table", "selected_rows"),
        Output("workers", "children"),
        Output("queue-message", "children"),
        Input("queue-refresh", "n_intervals"),
        Input("cancel-button", "n_clicks"),
        Input("retry-button", "n_clicks"),
        State("sessions-table", "selected_row_ids"),
        prevent_initial_call=True,
    )
    def refresh(_ticks: int, _cancel: int, _retry: int, selected: list[str] | None) -> tuple:
        selected = list(selected or [])
        message = ""
        if ctx.triggered_id in ("cancel-button", "retry-button"):
            message = _act(sources, ctx.triggered_id.split("-")[0], selected)
        state = _queue_state(sources, selected)
        return (
            state["problem"],
            state["counts"],
            state["rows"],
            state["selected_rows"],
            state["workers"],
            message,
        )


def _act(sources: Sources, action: str, session_ids: list[str]) -> str:
    """Cancel or retry each selected session through the store; one line of outcomes."""
    if not session_ids:
        return f"select sessions to {action} first"
    done, refused = [], []
    for session_id in session_ids:
        try:
            if action == "cancel":
                sources.store.call(cast("StoreAction", lambda s, i=session_id: s.cancel(i)))
            else:
                sources.store.call(cast("StoreAction", lambda s, i=session_id: s.retry(i)))
            done.append(session_id)
        except Unavailable as problem:
            return f"{action} failed: {problem}"
        except QraptorError as exc:  # e.g. retrying a running session
            refused.append(str(exc))
    verb = "cancelled" if action == "cancel" else "queued again"
    parts = [f"{verb}: {', '.join(done)}"] if done else []
    return "; ".join(parts + refused)


def _pipeline_agent(sources: Sources) -> list[Any]:
    """The pipeline's agent (never queued, so not in the table) with a link to its page."""
    doc = pipeline_doc(sources.settings.project)
    if doc is None:
        return [html.Span("No agent from the pipeline yet: `make demo` (or `dvc repro`) "
                          "trains one.", className="muted")]  # fmt: skip
    return [
        html.Span("The pipeline's agent", className="key"),
        f" ({doc['source']}, {doc['experiment'] or 'default'}): {headline(doc)} · ",
        dcc.Link("open", href=f"/session/{PIPELINE_ID}", id="pipeline-agent-link"),
    ]


def _queue_state(sources: Sources, selected: list[str]) -> dict[str, Any]:
    try:
        counts = sources.store.call(lambda s: s.counts())
        docs = sources.store.call(lambda s: s.list(limit=LIMIT, with_config=False))
    except Unavailable as problem:
        return {
            "problem": notice(problem),
            "counts": [],
            "rows": [],
            "selected_rows": [],
            "workers": [],
        }
    rows = [session_row(d) for d in docs]
    position = {row["id"]: i for i, row in enumerate(rows)}
    return {
        "problem": None if sum(counts.values()) else notice(EMPTY),
        "counts": _count_cards(counts),
        "rows": rows,
        "selected_rows": [position[i] for i in selected if i in position],
        "workers": _workers(docs),
    }


def _count_cards(counts: dict[str, int]) -> list[html.Div]:
    cards = [
        html.Div(
            [html.Div(str(n), className="count", id=f"count-{status}"), html.Div(status)],
            className=f"card {status}",
        )
        for status, n in counts.items()
    ]
    total = sum(counts.values())
    cards.append(
        html.Div(
            [html.Div(str(total), className="count", id="count-total"), html.Div("total")],
            className="card",
        )
    )
    return cards


def _workers(docs: list[dict[str, Any]]) -> Any:
    rows = worker_rows(docs)
    if not rows:
        return html.Div(
            "No worker is running a session now (`qraptor worker` starts one).", className="muted"
        )
    body = [
        html.Tr(
            [
                html.Td(r["worker"]),
                html.Td(dcc.Link(r["session"], href=f"/session/{r['session']}")),
                html.Td(html.Progress(value=str(r["percent"] or 0), max="100")),
                html.Td("" if r["percent"] is None else f"{r['percent']:.0f}%"),
                html.Td(r["timesteps"]),
                html.Td(r["phase"]),
                html.Td(r["heartbeat"]),
            ]
        )
        for r in rows
    ]
    head = html.Tr(
        [
            html.Th(t)
            for t in ("worker", "session", "progress", "", "timesteps", "phase", "last heartbeat")
        ]
    )
    return html.Table([html.Thead(head), html.Tbody(body)], id="workers-table", className="plain")
