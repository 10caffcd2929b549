"""Learning curves: which metric keys go on which chart, stable run colours, and the plotly figures."""

from __future__ import annotations

import colorsys
import zlib
from typing import Any

import plotly.graph_objects as go

from dashboard.groups import BANDS, X_AXES, Band, Dimension, aggregate, x_values

ACCURACY_MARKERS = ("top1", "top5", "acc")
GOLDEN_ANGLE = 137.508  # degrees: consecutive ids land far apart on the colour wheel, and never cycle
# Plotly keeps the user's zoom, pan and hidden traces while uirevision stays the same across re-renders.
UIREVISION = "keep"
Y_TICKS = ".4~g"  # 0.0000000108 as 1.08e-8, never SI suffixes like "10.8n"


SYSTEM_PREFIX = (
    "system/"  # the worker's CPU, memory and GPU samples: never a learning curve or primary metric
)


def is_system_key(key: str) -> bool:
    return key.startswith(SYSTEM_PREFIX)


def group_metric_keys(keys: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Split keys into (loss, accuracy, other) so each chart has one y-axis unit; system/* keys are left out
    (the run page charts them on their own)."""
    keys = [k for k in keys if not is_system_key(k)]
    loss = [k for k in keys if "loss" in k.lower()]
    accuracy = [k for k in keys if k not in loss and any(m in k.lower() for m in ACCURACY_MARKERS)]
    other = [k for k in keys if k not in loss and k not in accuracy]
    return loss, accuracy, other


def default_chart_keys(primary_metrics: list[str | None], keys: list[str]) -> list[str]:
    """What a comparison charts first: the tasks' primary metrics, then the losses (train before test)."""
    primary = [k for k in dict.fromkeys(primary_metrics) if k and k in keys and not is_system_key(k)]
    losses = sorted(
        (k for k in keys if "loss" in k.lower() and k not in primary and not is_system_key(k)),
        key=lambda k: (len(k), k),
    )
    return [*primary, *losses]


def run_colour(run_id: int) -> str:
    """One saturated colour per run, the same on every page and refresh; no greys, no cycle of 10."""
    hue = (run_id * GOLDEN_ANGLE) % 360 / 360
    # Alternate two lightness levels so neighbouring hues stay distinguishable on white and dark themes.
    lightness = 0.42 if run_id % 2 else 0.52
    r, g, b = colorsys.hls_to_rgb(hue, lightness, 0.75)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def group_colour(label: str) -> str:
    """A group's colour from its label (a checksum, stable across processes), so it never shifts."""
    return run_colour(zlib.crc32(label.encode()) % 100_003)


def _translucent(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def smooth(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average, debiased so the first points are not pulled to 0."""
    if not 0 < weight < 1:
        return list(values)
    out, last, n = [], 0.0, 0
    for value in values:
        n += 1
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**n))
    return out


def _layout(fig: go.Figure, title: str, y_title: str, axis: str = "step") -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=X_AXES[axis],
        yaxis_title=y_title,
        legend={"orientation": "h", "y": -0.2, "groupclick": "toggleitem"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        height=360,
        uirevision=UIREVISION,
    )
    if axis == "step":
        fig.update_xaxes(tickformat="~d")
    fig.update_yaxes(tickformat=Y_TICKS, hoverformat=Y_TICKS, exponentformat="e")
    return fig


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
    return _layout(fig, title, y_title)


def runs_figure(
    runs: list[dict[str, Any]],
    histories: dict[int, list[dict[str, Any]]],
    labels: dict[int, str],
    title: str,
    smoothing: float = 0.0,
    log_y: bool = False,
    axis: str = "step",
) -> go.Figure:
    """One line per run in its own colour, grouped by method in the legend (runs without points are left out).
    With smoothing, the raw curve stays as a faint line under the smoothed one."""
    fig = go.Figure()
    for run in sorted(runs, key=lambda r: (r["method"], r["id"])):
        points = histories.get(run["id"])
        if points is None:
            continue
        x, y = x_values(points, axis), [p["value"] for p in points]
        colour = run_colour(run["id"])
        common = {"legendgroup": run["method"], "x": x}
        if smoothing > 0:
            fig.add_trace(
                go.Scatter(
                    **common,
                    y=y,
                    mode="lines",
                    line={"color": colour},
                    opacity=0.25,
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
        fig.add_trace(
            go.Scatter(
                **common,
                y=smooth(y, smoothing),
                mode="lines+markers" if len(points) <= 50 and not smoothing else "lines",
                name=labels[run["id"]],
                line={"color": colour},
                legendgrouptitle_text=run["method"],
            )
        )
    _layout(fig, title, "", axis)
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def groups_figure(
    groups: dict[str, list[dict[str, Any]]],
    histories: dict[int, list[dict[str, Any]]],
    title: str,
    band: str = "std",
    smoothing: float = 0.0,
    log_y: bool = False,
    axis: str = "step",
) -> go.Figure:
    """One line per group (the mean over its runs, each smoothed first) in a band of ± std or the 95 %
    t-interval, named in the legend's title; a group's colour follows its label."""
    fig = go.Figure()
    for label, members in groups.items():
        curves = [
            (
                [p["step"] for p in points],
                x_values(points, axis),
                smooth([p["value"] for p in points], smoothing),
            )
            for points in (histories.get(run["id"]) for run in members)
            if points
        ]
        if not curves:
            continue
        line: Band = aggregate(curves, band)
        colour = group_colour(label)
        fig.add_trace(
            go.Scatter(
                x=[*line.x, *reversed(line.x)],
                y=[*line.high, *reversed(line.low)],
                fill="toself",
                fillcolor=_translucent(colour, 0.2),
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=label,
                name=f"{label} band",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=line.x,
                y=line.mean,
                customdata=line.n,
                mode="lines",
                name=f"{label} (n={len(curves)})",
                legendgroup=label,
                line={"color": colour},
                hovertemplate="%{y:.4~g} (%{customdata} runs)<extra>%{fullData.name}</extra>",
            )
        )
    _layout(fig, title, "", axis)
    fig.update_layout(legend_title_text=f"{BANDS[band]} over each group's runs")
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def parallel_figure(dimensions: list[Dimension], metric: str) -> go.Figure:
    """Hyperparameters against the metric (the last axis, and each line's colour); categorical fields show
    their values as ticks."""
    dims = []
    for dim in dimensions:
        entry: dict[str, Any] = {"label": dim.label, "values": dim.values}
        if dim.ticks is not None:
            entry.update(tickvals=list(range(len(dim.ticks))), ticktext=dim.ticks)
        dims.append(entry)
    fig = go.Figure(
        go.Parcoords(
            line={
                "color": dimensions[-1].values,
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": {"text": metric}},
            },
            dimensions=dims,
        )
    )
    fig.update_layout(
        title=f"Hyperparameters vs {metric}", margin={"l": 60, "r": 60, "t": 80, "b": 30}, height=420
    )
    return fig
