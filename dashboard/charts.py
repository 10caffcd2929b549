"""Learning curves: which metric keys go on which chart, and the plotly figures."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

ACCURACY_MARKERS = ("top1", "top5", "acc")


def group_metric_keys(keys: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Split keys into (loss, accuracy, other) so each chart has one y-axis unit."""
    loss = [k for k in keys if "loss" in k.lower()]
    accuracy = [k for k in keys if k not in loss and any(m in k.lower() for m in ACCURACY_MARKERS)]
    other = [k for k in keys if k not in loss and k not in accuracy]
    return loss, accuracy, other


def curve_figure(histories: dict[str, list[dict[str, Any]]], title: str, y_title: str = "") -> go.Figure:
    """One line per metric key over training steps."""
    fig = go.Figure()
    for key, points in histories.items():
        fig.add_trace(
            go.Scatter(
                x=[p["step"] for p in points],
                y=[p["value"] for p in points],
                mode="lines+markers" if len(points) <= 50 else "lines",
                name=key,
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="step",
        yaxis_title=y_title,
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        height=360,
    )
    return fig
