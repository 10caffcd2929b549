"""Entropy: the normalized entropy Ĥ of the training targets against accuracy, per method and swept setting (the
supplement's teacher, label-smoothing ε, KD T and XCL T studies), and a histogram of per-run Ĥ on the original (KD)
and the extended (XCL) transfer sets."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.analysis import AnalysisPage, stem

PREFIX = "entropy"


page = AnalysisPage(PREFIX)


# ------------------------------------------------------------ this page


def points_frame(section: dict[str, Any]) -> pd.DataFrame:
    columns = [
        "study",
        "label",
        "method",
        "student",
        "n",
        "Ĥ",
        "Ĥ std",
        "mean",
        "std",
        "teacher",
        "transfer set",
    ]
    return pd.DataFrame(
        [
            {
                "study": p["study"],
                "label": p["label"],
                "method": p["method_label"],
                "student": p["model"],
                "n": p["n"],
                "Ĥ": p["h_hat"],
                "Ĥ std": p["h_hat_std"],
                "mean": p["mean"],
                "std": p["std"],
                "teacher": p["teacher_score"],
                "transfer set": p["transfer_set"] or "",
                "params": json.dumps(p["params"], sort_keys=True),
            }
            for p in section["points"]
        ],
        columns=[*columns, "params"],
    )


def scatter_figure(section: dict[str, Any]) -> go.Figure:
    """Ĥ against the metric, one colour per study (methods, LS ε, KD T, XCL T, teacher choice)."""
    several = len({p["model"] for p in section["points"]}) > 1
    fig = go.Figure()
    studies: dict[str, list[dict[str, Any]]] = {}
    for p in section["points"]:
        if p["h_hat"] is not None and p["mean"] is not None:
            studies.setdefault(p["study"], []).append(p)
    for study, points in studies.items():
        points = sorted(points, key=lambda p: p["h_hat"])
        fig.add_trace(
            go.Scatter(
                x=[p["h_hat"] for p in points],
                y=[p["mean"] for p in points],
                error_y={"type": "data", "array": [p["std"] for p in points], "visible": True},
                mode="markers+text",
                text=[f"{p['label']} · {p['model']}" if several else p["label"] for p in points],
                textposition="top center",
                name=study,
                marker={"size": 10},
            )
        )
    if section["ensemble_score"] is not None:
        fig.add_hline(
            y=section["ensemble_score"],
            line_dash="dash",
            annotation_text=f"teacher ensemble {section['ensemble_score']:.2f}",
            annotation_position="bottom right",
        )
    fig.update_layout(
        title=f"{section['grid']}: Ĥ of the training targets vs {section['metric']} (mean ± std)",
        xaxis={"title": {"text": "Ĥ (%)"}, "range": [-2, 102], "hoverformat": ".1f"},
        yaxis={"title": {"text": section["metric"]}, "hoverformat": ".2f"},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        height=440,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def histogram_figure(section: dict[str, Any]) -> go.Figure | None:
    """Per-run Ĥ of KD's targets (original transfer set) against XCL's (extended transfer set)."""
    names = {"original": "original transfer set (KD)", "extended": "extended transfer set (XCL)"}
    fig = go.Figure()
    for transfer_set, name in names.items():
        values = [
            r["h_hat"]
            for p in section["points"]
            if p["transfer_set"] == transfer_set
            for r in p["runs"]
            if r["h_hat"] is not None
        ]
        if values:
            fig.add_trace(go.Histogram(x=values, name=name, opacity=0.65, xbins={"size": 2.5}))
    if not fig.data:
        return None
    fig.update_layout(
        title=f"{section['grid']}: per-run Ĥ, original vs extended transfer set",
        barmode="overlay",
        xaxis={"title": {"text": "Ĥ (%)"}, "range": [0, 100]},
        yaxis_title="runs",
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        height=360,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def show_section(index: int, section: dict[str, Any]) -> None:
    st.subheader(section["grid"])
    if not section["points"]:
        st.info("No student runs here.", icon=":material/info:")
        return
    name = stem(section["grid"])
    if any(p["h_hat"] is not None and p["mean"] is not None for p in section["points"]):
        page.show_chart(scatter_figure(section), f"{PREFIX}_scatter_{index}", f"entropy-{name}")
    else:
        st.info("No succeeded student has logged Ĥ yet.", icon=":material/hourglass_empty:")
    histogram = histogram_figure(section)
    if histogram is not None:
        page.show_chart(histogram, f"{PREFIX}_histogram_{index}", f"entropy-histogram-{name}")
    page.show_table(
        points_frame(section),
        f"{PREFIX}_table_{index}",
        f"entropy-{name}",
        column_config={
            "Ĥ": st.column_config.NumberColumn("Ĥ (%)", format="%.1f"),
            "Ĥ std": st.column_config.NumberColumn("Ĥ std", format="%.1f"),
            "mean": st.column_config.NumberColumn(section["metric"], format="%.2f"),
            "std": st.column_config.NumberColumn("std", format="%.2f"),
            "teacher": st.column_config.NumberColumn("teacher", format="%.2f"),
        },
    )


body = page.load(
    "Entropy",
    "Ĥ: the normalized entropy (in %) of the targets each student trained on, averaged over its last epoch; "
    "one point per method or swept setting, mean ± std over the seeds that succeeded.",
    "entropy",
)
page.show_sections(body, show_section)
