"""`/session/<id>`: one session. What it trains and where it stands, the error if it failed,
its metrics next to the baselines' (each Sharpe with its PSR(0)) and the verdict per split,
and per split the equity against the baselines, the drawdown, the position over the price
and the trade list (the worker's GridFS CSVs), with a link to its MLflow run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, State, dash_table, dcc, html

from qraptor.dashboard import result_figures
from qraptor.dashboard.components import (
    TABLE_STYLE,
    key_values,
    notice,
    simple_table,
    status_badge,
)
from qraptor.dashboard.pipeline_session import PIPELINE_ID, pipeline_doc
from qraptor.dashboard.problems import Unavailable
from qraptor.dashboard.session_results import RUN_DIR, no_results, result_splits, split_verdict
from qraptor.dashboard.sources import Sources
from qraptor.evaluation.metric_names import AGENT, metric_key
from qraptor.evaluation.metrics import HEADLINE_METRICS
from qraptor.evaluation.policy_table import policy_rows, verdict_lines
from qraptor.store.errors import StoreError

PREFIX = "/session/"
# the headline metrics, the Sharpe ratio followed by its PSR(0)
METRIC_COLUMNS = tuple(c for m in HEADLINE_METRICS for c in ((m, "psr") if m == "sharpe" else (m,)))
# d3 formats of the trade list's numbers (kept numeric, so the columns sort as numbers)
TRADE_FORMATS = {
    "quantity": ",.2f",
    "fill_price": ",.6~g",
    "exec_price": ",.6~g",
    "notional": ",.2f",
    "costs": ",.2f",
    "equity": ",.2f",
}
TRADE_COLUMNS = (
    "timestamp",
    "side",
    "quantity",
    "fill_price",
    "exec_price",
    "notional",
    "costs",
    "equity",
)


def layout(sources: Sources, session_id: str) -> html.Div:
    try:
        doc = _document(sources, session_id)
    except Unavailable as problem:
        return html.Div([html.H2(f"Session {session_id}"), notice(problem)])
    except StoreError as exc:  # no such session, or an ambiguous prefix
        missing = Unavailable(f"session {session_id}", str(exc), "qraptor sessions list")
        return html.Div([html.H2(f"Session {session_id}"), notice(missing)])
    splits = result_splits(doc)
    parts: list[Any] = [*_header(sources, doc), _metrics(doc)]
    if splits:
        parts += [
            dcc.Store(id="session-id", data=doc["_id"]),
            dcc.RadioItems(
                id="split-choice", options=splits, value=splits[0], inline=True, className="splits"
            ),
            html.Div(_results(sources, doc, splits[0]), id="session-results"),
        ]
    else:
        parts.append(notice(no_results(doc), "no-results"))
    return html.Div(parts)


def register(app: Dash, sources: Sources) -> None:
    @app.callback(
        Output("session-results", "children"),
        Input("split-choice", "value"),
        State("session-id", "data"),
        prevent_initial_call=True,
    )
    def show_split(split: str, session_id: str) -> Any:
        try:
            doc = _document(sources, session_id)
        except Unavailable as problem:
            return notice(problem)
        return _results(sources, doc, split)


def _document(sources: Sources, session_id: str) -> dict[str, Any]:
    """The session named by `session_id` (an id, its start or its tail): the store's, or
    the pipeline's agent for ``pipeline`` (Unavailable until `dvc repro` trained it)."""
    if session_id == PIPELINE_ID:
        doc = pipeline_doc(sources.settings.project, sources.links)
        if doc is None:
            raise Unavailable("the pipeline's agent", "the pipeline has not trained it yet",
                              "make demo (or dvc repro)")  # fmt: skip
        return doc
    return sources.store.call(lambda s: s.get(s.find_id(session_id)))


def _header(sources: Sources, doc: dict[str, Any]) -> list[Any]:
    config = doc.get("config") or {}
    session, algo = config.get("session") or {}, config.get("algo") or {}
    url = sources.links.run_url(doc.get("mlflow_run_id"))
    sweep = doc.get("sweep_id")
    title = f"Session {doc['_id']} "
    if doc.get(RUN_DIR):
        title = f"The pipeline's agent ({doc.get('source')}, {_relative(sources, doc[RUN_DIR])}) "
    attempts = f"{doc.get('attempts')}/{doc.get('max_attempts')}" if "attempts" in doc else None
    parts: list[Any] = [
        html.H2([title, status_badge(doc["status"])], id="session-title"),
        key_values(
            [
                ("name", session.get("name")),
                ("algo", algo.get("name")),
                ("seed", session.get("seed")),
                ("experiment", doc.get("experiment")),
                ("sweep", dcc.Link(sweep, href=f"/compare?sweep={sweep}") if sweep else None),
                ("attempts", attempts),
                ("worker", doc.get("worker_id")),
            ]
        ),
        key_values(
            [
                ("created", _when(doc.get("created_at"))),
                ("started", _when(doc.get("started_at"))),
                ("finished", _when(doc.get("finished_at"))),
                ("git", (doc.get("git_commit") or "")[:12]),
                (
                    "MLflow run",
                    html.A(doc["mlflow_run_id"], href=url, id="mlflow-link", target="_blank")
                    if url
                    else "none",
                ),
            ]
        ),
    ]
    if doc.get("error"):
        parts.append(
            html.Details(
                [
                    html.Summary("error (latest attempt)", className="error"),
                    html.Pre(doc["error"], id="session-error"),
                ],
                open=True,
            )
        )
    return parts


def _metrics(doc: dict[str, Any]) -> Any:
    """Agent and baselines per split: the headline metrics the worker kept in the document."""
    splits = (doc.get("metrics") or {}).get("splits") or {}
    if not splits:
        return html.Div("No metrics yet.", className="muted")
    rows = [
        {
            "split": row.split,
            "policy": row.policy,
            **dict(zip(METRIC_COLUMNS, row.cells(METRIC_COLUMNS), strict=True)),
        }
        for row in policy_rows(splits)
    ]
    conditional = [{"if": {"filter_query": '{policy} = "agent"'}, "fontWeight": "600"}]
    parts: list[Any] = [
        html.H3("Metrics"),
        simple_table(
            rows,
            ["split", "policy", *METRIC_COLUMNS],
            "metrics-table",
            style_data_conditional=conditional,
        ),
        html.Div(
            f"In MLflow, `dvc metrics show` and `qraptor compare` a cell is named "
            f"<split>/<policy>/<metric>: {metric_key('val', AGENT, 'sharpe')}, "
            f"{metric_key('val', 'buy_and_hold', 'sharpe')}.",
            id="metric-names",
            className="muted",
        ),
    ]
    verdicts = [html.Li(line) for line in verdict_lines(splits)]
    if verdicts:
        parts.append(html.Ul(verdicts, id="verdict-lines", className="verdict"))
    return html.Section(parts)


def _results(sources: Sources, doc: dict[str, Any], split: str) -> list[Any]:
    try:
        result = sources.results.load(doc, split)
    except Unavailable as problem:
        return [notice(problem)]
    config: dcc.Graph.Config = {"displaylogo": False}
    trades = result.trades
    if result.weights is not None:  # a portfolio: traded notional per instrument
        shown = list(trades.columns)
        held = dcc.Graph(
            id="weights-graph", figure=result_figures.weights_figure(result.weights), config=config
        )
    else:
        shown = [c for c in TRADE_COLUMNS if c in trades]
        held = dcc.Graph(
            id="position-graph",
            figure=result_figures.position_figure(result.equity, trades),
            config=config,
        )
    data = trades[shown].assign(
        timestamp=trades["timestamp"].dt.strftime("%Y-%m-%d %H:%M") if len(trades) else []
    )
    verdict = split_verdict(doc, result)
    return [
        html.P(
            f"Verdict on {split}: {verdict.text}" if verdict else f"No verdict on {split}.",
            id="split-verdict",
            className="verdict",
        ),
        dcc.Graph(
            id="equity-graph",
            figure=result_figures.equity_figure(result.equity, split),
            config=config,
        ),
        dcc.Graph(
            id="drawdown-graph", figure=result_figures.drawdown_figure(result.equity), config=config
        ),
        held,
        *_portfolio_diagnostics(doc, split),
        html.H3(f"Trades on {split} ({len(trades):,})"),
        dash_table.DataTable(  # type: ignore[operator]  # see components.py
            id="trades-table",
            data=data.to_dict("records"),
            columns=[_trade_column(c, trades) for c in shown],
            page_size=15,
            sort_action="native",
            **TABLE_STYLE,
        ),
    ]


def _trade_column(name: str, trades: Any) -> dict[str, Any]:
    """A trade list column: numbers right-aligned in their format (2 decimals for money
    and quantities, 6 significant digits for prices), the rest as text."""
    if name in trades and name != "timestamp" and trades[name].dtype.kind in "if":
        specifier = TRADE_FORMATS.get(name, ",.2f")
        return {"name": name, "id": name, "type": "numeric", "format": {"specifier": specifier}}
    return {"name": name, "id": name}


DIAGNOSTIC_COLUMNS = (
    "policy", "mean_turnover", "hhi", "entropy", "share_at_bounds", "market_log_return",
    "cost_log_return",
)  # fmt: skip


def _portfolio_diagnostics(doc: dict[str, Any], split: str) -> list[Any]:
    """A portfolio session's weights diagnostics per policy and whether the agent can be
    told from 1/N and from buy-and-hold (nothing for a single instrument)."""
    section = ((doc.get("metrics") or {}).get("splits") or {}).get(split) or {}
    portfolio = section.get("portfolio")
    if not portfolio:
        return []
    rows = [{"policy": name, **values} for name, values in portfolio["diagnostics"].items()]
    lines = []
    for v in portfolio.get("versus") or []:
        psr, distance = v.get("psr_vs_baseline"), v.get("weight_distance")
        told = "indistinguishable from" if v.get("indistinguishable") else "distinguishable from"
        lines.append(html.Li(
            f"agent {told} {v['baseline'].replace('_', ' ')} in its returns (PSR of the "
            f"difference {psr:.2f}); mean weight distance {distance:.3f}"
            if psr is not None and distance is not None else f"agent vs {v['baseline']}: n/a"
        ))  # fmt: skip
    return [
        html.H3(f"Weights on {split}: turnover, concentration, costs"),
        simple_table(rows, DIAGNOSTIC_COLUMNS, "diagnostics-table"),
        html.Ul(lines, id="versus-lines", className="verdict"),
    ]


def _relative(sources: Sources, folder: str) -> str:
    """`folder` relative to the project, when inside it."""
    try:
        return str(Path(folder).resolve().relative_to(Path(sources.settings.project).resolve()))
    except ValueError:
        return folder


def _when(value: Any) -> str | None:
    return None if value is None else f"{value:%Y-%m-%d %H:%M:%S} UTC"
