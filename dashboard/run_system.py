"""The run page's system metrics: CPU, memory and GPU over the run's time, as the worker logged them."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from dashboard.api import get_api
from dashboard.charts import curve_figure, is_system_key
from dashboard.ui import call

MAX_POINTS = 2000
# (chart title, y-axis title, keys): one unit per chart.
SYSTEM_CHARTS = (
    ("CPU", "% of one core", ("system/cpu_percent",)),
    ("Memory", "MiB", ("system/rss_mb",)),
    ("Machine RAM", "% in use", ("system/ram_percent",)),
    ("GPU utilisation", "%", ("system/gpu_util",)),
    ("GPU memory", "MiB", ("system/gpu_mem_mb",)),
)


def system_figures(histories: dict[str, list[dict[str, Any]]]) -> list[go.Figure]:
    """One chart per unit for the keys that have points; the x axis is seconds since the first sample (the
    worker logs them at step = Unix seconds)."""
    first = min((p["step"] for points in histories.values() for p in points), default=0)
    figures = []
    for title, unit, keys in SYSTEM_CHARTS:
        shown = {
            k.removeprefix("system/"): [
                {"step": p["step"] - first, "value": p["value"]} for p in histories[k]
            ]
            for k in keys
            if histories.get(k)
        }
        if shown:
            fig = curve_figure(shown, title, unit)
            fig.update_layout(xaxis_title="seconds since start", height=260, showlegend=False)
            figures.append(fig)
    return figures


def system_metrics(run_id: int, keys: list[str]) -> None:
    system = [k for k in keys if is_system_key(k)]
    if not system:
        return
    with st.expander("System metrics (CPU, memory, GPU)", expanded=False, icon=":material/monitoring:"):
        api = get_api()
        histories = {k: call(api.get_metric_history, run_id, k, max_points=MAX_POINTS) for k in system}
        figures = system_figures(histories)
        cols = st.columns(min(3, len(figures)) or 1)
        for i, fig in enumerate(figures):
            with cols[i % len(cols)]:
                st.plotly_chart(fig, key=f"run_system_{i}")
