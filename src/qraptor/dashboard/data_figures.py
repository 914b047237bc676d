"""Plotly figures of the data page: bars with the split boundaries, one feature, the folds.

Inputs are already bucketed or thinned (pipeline_outputs), so each figure sends at most a
few thousand points per trace; SVG traces (not WebGL) keep it drawable in any browser,
headless ones included.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from qraptor.dashboard.pipeline_outputs import BarsView
from qraptor.data.plots import SPLIT_COLOURS

LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 40, "b": 30}}


def price_figure(bars: BarsView, split_meta: dict[str, Any] | None) -> go.Figure:
    """Close with the high-low range of each bucket, volume below; the chronological
    spans (train / embargo / val / test) shaded when the split stage has run."""
    view = bars.view
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.04
    )
    fig.add_trace(
        go.Scatter(
            x=view["timestamp"],
            y=view["high"],
            line={"width": 0},
            hoverinfo="skip",
            showlegend=False,
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Scatter(
            x=view["timestamp"],
            y=view["low"],
            fill="tonexty",
            line={"width": 0},
            fillcolor="rgba(158,202,233,0.6)",
            name="high-low",
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Scatter(
            x=view["timestamp"],
            y=view["close"],
            name="close",
            line={"color": "#1f4e79", "width": 1},
        ),
        1,
        1,
    )
    fig.add_trace(
        # an area, not bars: 2,000 SVG rectangles cost the browser a quarter of a second
        go.Scatter(
            x=view["timestamp"],
            y=view["volume"],
            name="volume",
            fill="tozeroy",
            line={"color": "#6b6b6b", "width": 0.5},
        ),
        2,
        1,
    )
    for name, span in ((split_meta or {}).get("chrono", {}).get("spans") or {}).items():
        if not (span.get("first") and span.get("last")):
            continue
        # embargoes are too narrow to label (an empty annotation would read "new text")
        label = (
            {}
            if span["label"] == "embargo"
            else {"annotation_text": name, "annotation_position": "top left"}
        )
        fig.add_vrect(
            x0=span["first"],
            x1=span["last"],
            fillcolor=SPLIT_COLOURS[span["label"]],
            opacity=0.15,
            line_width=0,
            layer="below",
            row=1,
            col=1,
            **label,
        )
    fig.update_layout(
        **LAYOUT,
        height=420,
        legend={"orientation": "h", "y": 1.08},
        title=f"{bars.bars:,} bars ({len(view):,} points drawn)",
    )
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="volume", row=2, col=1)
    return fig


def feature_figure(view: pd.DataFrame, column: str) -> go.Figure:
    fig = go.Figure(
        go.Scatter(
            x=view["timestamp"], y=view[column], name=column, line={"color": "#4c78a8", "width": 1}
        )
    )
    fig.update_layout(**LAYOUT, height=260, title=column)
    return fig


def folds_figure(split_meta: dict[str, Any]) -> go.Figure | None:
    """Walk-forward folds as a timeline: one row per fold, its train, embargo and test."""
    folds = (split_meta.get("walk_forward") or {}).get("folds") or []
    if not folds:
        return None
    fig = go.Figure()
    shown: set[str] = set()
    for fold in folds:
        for span in fold["spans"].values():
            if not span.get("first"):
                continue
            label = span["label"]
            fig.add_trace(
                go.Scatter(
                    x=[span["first"], span["last"]],
                    y=[f"fold {fold['fold']}"] * 2,
                    mode="lines",
                    line={"color": SPLIT_COLOURS[label], "width": 14},
                    name=label,
                    legendgroup=label,
                    showlegend=label not in shown,
                    hovertemplate=f"{label}: {span['rows']:,} bars<extra></extra>",
                )
            )
            shown.add(label)
    fig.update_layout(**LAYOUT, height=70 + 40 * len(folds), title="walk-forward folds")
    fig.update_yaxes(autorange="reversed")
    return fig
