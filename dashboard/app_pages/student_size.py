"""Student size: test error against parameters and MACs per method, full-precision and binary students side by
side, with the teacher ensemble's error as a reference line (the supplement's Figure 1)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard.analysis import AnalysisPage, stem

PREFIX = "size"


page = AnalysisPage(PREFIX)


# ------------------------------------------------------------ this page

PRECISIONS = {"full": "full precision", "binary": "binary weights"}
AXES = {"params": "parameters", "macs": "MACs"}
PALETTE = px.colors.qualitative.Plotly


def size_frame(section: dict[str, Any]) -> pd.DataFrame:
    columns = [
        "method",
        "student",
        "precision",
        "width",
        "n",
        "error",
        "error std",
        "params",
        "MACs",
        "binary MACs",
    ]
    return pd.DataFrame(
        [
            {
                "method": p["method"],
                "student": p["model_label"],
                "precision": p["precision"],
                "width": p["width"],
                "n": p["n"],
                "error": p["error"],
                "error std": p["error_std"],
                "params": p["params"],
                "MACs": p["macs"],
                "binary MACs": p["binary_macs"],
            }
            for p in section["points"]
        ],
        columns=columns,
    )


def size_figure(section: dict[str, Any], axis: str) -> go.Figure | None:
    """Error against size per method, one panel per precision, the teacher ensemble as a reference line."""
    points = [p for p in section["points"] if p["error"] is not None and p[axis]]
    panels = [k for k in PRECISIONS if any(p["precision"] == k for p in points)]
    if not panels:
        return None
    fig = make_subplots(
        rows=1, cols=len(panels), shared_yaxes=True, subplot_titles=[PRECISIONS[k] for k in panels]
    )
    several = len({p["model"] for p in points}) > 1
    series = sorted({(p["method"], p["model"]) for p in points})
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}
    for col, precision in enumerate(panels, start=1):
        for method, model in series:
            line = sorted(
                (
                    p
                    for p in points
                    if (p["method"], p["model"]) == (method, model) and p["precision"] == precision
                ),
                key=lambda p: p[axis],
            )
            if not line:
                continue
            name = f"{method} · {model}" if several else method
            fig.add_trace(
                go.Scatter(
                    x=[p[axis] for p in line],
                    y=[p["error"] for p in line],
                    error_y={"type": "data", "array": [p["error_std"] for p in line], "visible": True},
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=name not in _shown(fig),
                    line={"color": colours[(method, model)]},
                    text=[f"width {p['width']:g}" for p in line],
                    hovertemplate="%{text}<br>%{x:,.0f}<br>error %{y:.2f}<extra>" + name + "</extra>",
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(type="log", title_text=AXES[axis], row=1, col=col)
    if section["teacher_error"] is not None:
        fig.add_hline(
            y=section["teacher_error"],
            line_dash="dash",
            line_color="#6b7280",
            annotation_text=f"teacher ensemble {section['teacher_error']:.2f}",
            annotation_position="top right",
            row="all",
            col="all",
        )
    fig.update_yaxes(title_text=section["error_metric"], row=1, col=1)
    fig.update_layout(
        title=f"{section['grid']}: {section['error_metric']} vs {AXES[axis]}",
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        height=420,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def _shown(fig: go.Figure) -> set[str]:
    return {t.name for t in fig.data if t.showlegend}


def show_section(index: int, section: dict[str, Any]) -> None:
    st.subheader(section["grid"])
    if not section["points"]:
        st.info("No student runs here.", icon=":material/info:")
        return
    name = stem(section["grid"])
    drawn = False
    for axis in AXES:
        fig = size_figure(section, axis)
        if fig is not None:
            page.show_chart(fig, f"{PREFIX}_{axis}_{index}", f"student-size-{axis}-{name}")
            drawn = True
    if not drawn:
        st.info("No succeeded student has logged its size yet.", icon=":material/hourglass_empty:")
    page.show_table(
        size_frame(section),
        f"{PREFIX}_table_{index}",
        f"student-size-{name}",
        column_config={
            "error": st.column_config.NumberColumn(section["error_metric"], format="%.2f"),
            "error std": st.column_config.NumberColumn("std", format="%.2f"),
            "params": st.column_config.NumberColumn("params", format="%d"),
            "MACs": st.column_config.NumberColumn("MACs", format="%d"),
            "binary MACs": st.column_config.NumberColumn("binary MACs", format="%d"),
        },
    )


body = page.load(
    "Student size",
    "The supplement's Figure 1: test error against student size (width multipliers), full-precision and "
    "binary-weight students, mean ± std over seeds; the dashed line is the teacher ensemble's own error.",
    "student-size",
)
page.show_sections(body, show_section)
