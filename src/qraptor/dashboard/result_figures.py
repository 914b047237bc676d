"""Plotly figures of results: one session (equity vs baselines, drawdown, position over
price with its trades) and a comparison (parameters against the Sharpe ratio)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from qraptor.dashboard.pipeline_outputs import thinned
from qraptor.evaluation.compare.comparison import Comparison, flatten
from qraptor.evaluation.report import BASELINE_COLOURS

MARGIN = {"l": 60, "r": 20, "t": 40, "b": 30}
LAYOUT: dict[str, Any] = {"template": "plotly_white", "margin": MARGIN}
# a legend under the plot, left-aligned: above it, a long legend ran into the title
LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0}
BELOW_MARGIN = {**MARGIN, "b": 70}
AGENT_COLOUR = "#1f4e79"
MAX_TRADE_MARKERS = 1000


def equity_figure(equity: pd.DataFrame, split: str) -> go.Figure:
    """The agent's equity next to each baseline's on the same span, same costs."""
    view = thinned(equity)
    fig = go.Figure()
    for name, colour in BASELINE_COLOURS.items():
        if name in view:
            fig.add_trace(
                go.Scatter(
                    x=view["timestamp"], y=view[name], name=name, line={"color": colour, "width": 1}
                )
            )
    fig.add_trace(
        go.Scatter(
            x=view["timestamp"],
            y=view["agent"],
            name="agent",
            line={"color": AGENT_COLOUR, "width": 2},
        )
    )
    fig.update_layout(
        **{**LAYOUT, "margin": BELOW_MARGIN},
        height=380,
        title=f"equity on {split}: agent vs baselines",
        legend=LEGEND_BELOW,
        yaxis={"tickformat": ",.0f", "title": "equity"},
    )
    return fig


def weights_figure(weights: pd.DataFrame, shown: int = 10) -> go.Figure:
    """A portfolio's weights over time, stacked (cash first, then the instruments by mean
    weight; beyond `shown` of them, one band for the rest)."""
    view = thinned(weights)
    names = [c for c in view.columns if c != "timestamp"]
    risky = sorted(names[1:], key=lambda c: -float(view[c].abs().mean()))
    bands = {"cash": view[names[0]]}
    bands.update({c: view[c] for c in risky[:shown]})
    if len(risky) > shown:
        bands[f"{len(risky) - shown} others"] = view[risky[shown:]].sum(axis=1)
    fig = go.Figure()
    for name, values in bands.items():
        fig.add_trace(
            go.Scatter(
                x=view["timestamp"], y=values.clip(lower=0), name=name, mode="lines",
                stackgroup="weights", line={"width": 0.5},
                hovertemplate="%{y:.1%}",
            )
        )  # fmt: skip
    fig.update_layout(
        **LAYOUT, height=320, title="weights over time (after each bar's fill)",
        yaxis={"tickformat": ".0%", "range": [0, 1]}, legend={"orientation": "v"},
    )  # fmt: skip
    return fig


def drawdown_figure(equity: pd.DataFrame) -> go.Figure:
    view = thinned(equity)
    agent = view["agent"].to_numpy(dtype=float)
    drawdown = agent / np.maximum.accumulate(agent) - 1.0
    fig = go.Figure(
        go.Scatter(
            x=view["timestamp"],
            y=drawdown,
            fill="tozeroy",
            name="drawdown",
            line={"color": "#e45756", "width": 1},
        )
    )
    fig.update_layout(**LAYOUT, height=200, title="agent drawdown", yaxis_tickformat=".1%")
    return fig


def position_figure(equity: pd.DataFrame, trades: pd.DataFrame) -> go.Figure:
    """Price with the position held (right axis) and the fills as markers."""
    view = thinned(equity)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(
            x=view["timestamp"],
            y=view["close"],
            name="close",
            line={"color": "#444444", "width": 1},
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=view["timestamp"],
            y=view["position"],
            name="position",
            fill="tozeroy",
            line={"color": "#54a24b", "width": 0.5, "shape": "hv"},
            opacity=0.5,
        ),
        secondary_y=True,
    )
    if len(trades):
        shown = trades.tail(MAX_TRADE_MARKERS)
        for side, symbol, colour in (
            ("buy", "triangle-up", "#2e7d32"),
            ("sell", "triangle-down", "#c62828"),
        ):
            fills = shown[shown["side"] == side]
            fig.add_trace(
                go.Scatter(
                    x=fills["timestamp"],
                    y=fills["fill_price"],
                    mode="markers",
                    name=side,
                    marker={"symbol": symbol, "color": colour, "size": 7},
                ),
                secondary_y=False,
            )
    fig.update_layout(
        **{**LAYOUT, "margin": BELOW_MARGIN}, height=340, title="position over price",
        legend=LEGEND_BELOW,
    )  # fmt: skip
    fig.update_yaxes(title_text="price", secondary_y=False)
    fig.update_yaxes(title_text="position", secondary_y=True, **_position_ticks(view["position"]))
    return fig


def _position_ticks(position: pd.Series) -> dict[str, Any]:
    """Round ticks for the position axis: a fraction of equity (|p| <= 1.5) in percent at
    -100/-50/0/50/100%, else plotly's own (units of a quantity)."""
    largest = float(np.nanmax(np.abs(position.to_numpy(dtype=float)))) if len(position) else 0.0
    if not math.isfinite(largest) or largest > 1.5:
        return {}
    bound = 1.0 if largest <= 1.0 else 1.5
    ticks = [t for t in (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5) if abs(t) <= bound]
    return {"tickvals": ticks, "tickformat": ".0%", "range": [-bound * 1.05, bound * 1.05]}


def params_vs_sharpe(comparison: Comparison, max_params: int) -> go.Figure | None:
    """The Sharpe ratio on the compared split against each varying config key (one panel
    per key; categorical values spread over the x axis); the best run ringed."""
    split = comparison.split
    finished = [r for r in comparison.records if math.isfinite(r.value(split, "sharpe"))]
    keys = _param_keys(comparison)[:max_params]
    if not keys or not finished:
        return None
    fig = make_subplots(rows=1, cols=len(keys), shared_yaxes=True, subplot_titles=keys)
    best_id = comparison.best.id if comparison.best is not None else None
    for col, key in enumerate(keys, start=1):
        values = [flatten(r.config).get(key) for r in finished]
        categorical = _categorical(key, values)
        x = [str(v) if categorical else _axis_value(v) for v in values]
        y = [r.value(split, "sharpe") for r in finished]
        best = [r.id == best_id for r in finished]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                text=[r.id for r in finished],
                name=key,
                showlegend=False,
                hovertemplate="%{text}<br>%{x}: Sharpe %{y:.3g}<extra></extra>",
                marker={
                    "size": [14 if b else 9 for b in best],
                    "color": ["#e45756" if b else "#4c78a8" for b in best],
                },
            ),
            1,
            col,
        )
        if categorical:  # a seed is a label: 0, 1, 2 evenly spaced, no 0.5 in between
            order = [str(v) for v in sorted(set(values), key=_category_key)]  # 2 before 10
            fig.update_xaxes(type="category", categoryorder="array", categoryarray=order,
                             row=1, col=col)  # fmt: skip
    fig.update_yaxes(title_text=f"{split} Sharpe", row=1, col=1)
    ringed = any(best)  # the highlight is named only when a point carries it
    title = "parameters vs Sharpe" + (" (red: the best trial)" if ringed else "")
    fig.update_layout(**LAYOUT, height=320, title=title)
    return fig


def _categorical(key: str, values: list[Any]) -> bool:
    """A seed (any key ending in `seed`) or a value that is not a number is a category."""
    return key.rsplit(".", 1)[-1].endswith("seed") or not all(_is_number(v) for v in values)


def _category_key(value: Any) -> tuple[int, float, str]:
    """Numbers first, by value (seed 2 before seed 10), then the rest by their text."""
    return (0, float(value), "") if _is_number(value) else (1, 0.0, str(value))


def _param_keys(comparison: Comparison) -> list[str]:
    return [k for k in comparison.varying if not k.startswith("session.name")]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _axis_value(value: Any) -> Any:
    return value if _is_number(value) else json.dumps(value, default=str).strip('"')
