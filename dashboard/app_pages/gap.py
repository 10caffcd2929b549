"""Gap: the teacher ensemble against each student method (mean ± std over seeds), with the teacher-student gap and
the gap reduction relative to KD written on the bars."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.analysis import AnalysisPage, stem
from dashboard.report_tables import comparisons_frame, interval, reduction_interval, row_label

PREFIX = "gap"


page = AnalysisPage(PREFIX)


# ------------------------------------------------------------ this page


def bar_label(row: dict[str, Any], several_models: bool) -> str:
    return f"{row['method']} · {row['model']}" if several_models else row["method"]


def annotation(row: dict[str, Any]) -> str:
    """What a bar says: the gap to the ensemble and, when there is a KD row, the reduction against it."""
    if row["gap"] is None:
        return ""
    text = f"gap {row['gap']:.2f}"
    if row["gap_reduction_vs_kd"] is not None and not row["method"].startswith("kd"):
        text += f" · {row['gap_reduction_vs_kd']:+.0f}% vs KD"
    return text


def gap_figure(section: dict[str, Any]) -> go.Figure:
    """Horizontal bars (long method and model labels stay readable), the teacher ensemble on top."""
    rows = [r for r in section["rows"] if r["mean"] is not None]
    several = len({r["model"] for r in rows}) > 1
    fig = go.Figure()
    values = [r["mean"] - r["std"] for r in rows] + [r["mean"] + r["std"] for r in rows]
    if section["ensemble_score"] is not None:
        values.append(section["ensemble_score"])
        fig.add_trace(
            go.Bar(
                y=["teacher ensemble"],
                x=[section["ensemble_score"]],
                orientation="h",
                name="teacher ensemble",
                marker_color="#6b7280",
                text=[f"{section['ensemble_score']:.2f}"],
                textposition="inside",
                insidetextanchor="end",
            )
        )
    fig.add_trace(
        go.Bar(
            y=[bar_label(r, several) for r in rows],
            x=[r["mean"] for r in rows],
            orientation="h",
            error_x={"type": "data", "array": [r["std"] for r in rows], "visible": True},
            name="students (mean ± std)",
            marker_color="#2563eb",
            hovertemplate="%{y}<br>%{x:.2f} ± %{error_x.array:.2f}<extra></extra>",
        )
    )
    for row in rows:  # right of each error bar, so neither hides the other
        fig.add_annotation(
            x=row["mean"] + row["std"],
            y=bar_label(row, several),
            text=annotation(row),
            showarrow=False,
            xanchor="left",
            xshift=6,
            font={"size": 11},
        )
    better = "higher" if section["goal"] == "max" else "lower"
    layout: dict[str, Any] = {
        "title": f"{section['grid']}: {section['metric']} ({better} is better), teacher ensemble vs students",
        "xaxis_title": section["metric"],
        "yaxis": {"autorange": "reversed"},
        "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "height": 160 + 30 * (len(rows) + 1),
        "legend": {"orientation": "h", "y": -0.15},
    }
    if values:  # zoom on the differences, as the paper's tables do
        low, high = min(values), max(values)
        pad = max(0.5, 0.15 * (high - low))
        layout["xaxis_range"] = [max(0.0, low - 3 * pad), high + pad + 0.45 * (high - low + 3 * pad)]
    fig.update_layout(**layout)
    return fig


def gap_frame(section: dict[str, Any]) -> pd.DataFrame:
    columns = [
        "method", "student", "teachers", "n", "mean", "std", "95 % CI", "teacher", "gap", "gap 95 % CI",
        "gap red. vs KD (%)", "gap red. 95 % CI", "KD row", "Ĥ",
    ]  # fmt: skip
    return pd.DataFrame(
        [
            {
                "method": row_label(section, r),
                "student": r["model"],
                "teachers": r.get("ensemble") or "–",
                "n": f"{r['n']}/{r['seeds_total']}",
                "mean": r["mean"],
                "std": r["std"],
                "95 % CI": interval(r.get("ci_low"), r.get("ci_high")),
                "teacher": r["teacher"],
                "gap": r["gap"],
                "gap 95 % CI": interval(r.get("gap_ci_low"), r.get("gap_ci_high")),
                "gap red. vs KD (%)": r["gap_reduction_vs_kd"],
                "gap red. 95 % CI": reduction_interval(r),
                "KD row": r["kd_group"] or "",
                "Ĥ": r["h_hat"],
            }
            for r in section["rows"]
        ],
        columns=columns,
    )


def show_section(index: int, section: dict[str, Any]) -> None:
    st.subheader(section["grid"])
    if not section["rows"]:
        st.info("No student runs here, so there is no gap to show.", icon=":material/info:")
        return
    if any(r["mean"] is not None for r in section["rows"]):
        page.show_chart(gap_figure(section), f"{PREFIX}_chart_{index}", f"gap-{stem(section['grid'])}")
    else:
        st.info("No student has succeeded yet.", icon=":material/hourglass_empty:")
    page.show_table(
        gap_frame(section),
        f"{PREFIX}_table_{index}",
        f"gap-{stem(section['grid'])}",
        column_config={
            "mean": st.column_config.NumberColumn(section["metric"], format="%.2f"),
            "std": st.column_config.NumberColumn("std", format="%.2f"),
            "teacher": st.column_config.NumberColumn("teacher ensemble", format="%.2f"),
            "gap": st.column_config.NumberColumn("gap", format="%.2f"),
            "gap red. vs KD (%)": st.column_config.NumberColumn("gap red. vs KD (%)", format="%+.0f"),
            "Ĥ": st.column_config.NumberColumn("Ĥ (%)", format="%.1f"),
        },
    )
    comparisons = comparisons_frame(section)
    if not comparisons.empty:
        page.show_table(
            comparisons,
            f"{PREFIX}_comparisons_{index}",
            f"gap-comparisons-{stem(section['grid'])}",
            column_config={
                "Δ (mean)": st.column_config.NumberColumn("Δ (mean)", format="%+.2f"),
                "sign p": st.column_config.NumberColumn("sign p", format="%.3f"),
                "t p": st.column_config.NumberColumn("t p", format="%.3f"),
                "McNemar p": st.column_config.NumberColumn("McNemar p", format="%.3f"),
            },
        )
    if section.get("kd_selection"):
        st.caption(f"KD reference (chosen on validation, never on test): {section['kd_selection']}.")
    st.caption(section["note"])


body = page.load(
    "Teacher–student gap",
    "Gap = the row's own teacher ensemble − student (student − ensemble for errors), with 95 % intervals over "
    "seeds; gap reduction vs KD = (gap_KD − gap) / gap_KD against the KD reference (best temperature on "
    "validation), shown only where the KD gap's interval lies above 0.",
    "gap",
)
page.show_sections(body, show_section)
