"""Gap: each student row's gap to its own teacher ensemble, charted from zero with its 95 % interval and the gap
reduction vs KD written beside the bars; the paired differences by seed from zero with their intervals; and, for
a built-in grid that reproduces one, the supplement's table as printed there (paper view)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.analysis import AnalysisPage, stem
from dashboard.report_tables import comparisons_frame, interval, layout_frame, reduction_interval, row_label

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
    """Each row's gap to its own teacher ensemble, bars from zero (zero: the student matches its teacher), with
    the gap's 95 % interval over seeds as error bars; the gap reduction vs KD written beside each bar."""
    rows = [r for r in section["rows"] if r["gap"] is not None]
    several = len({r["model"] for r in rows}) > 1
    labels = [bar_label(r, several) for r in rows]

    def spread(r: dict[str, Any], side: str) -> float:
        low, high = r.get("gap_ci_low"), r.get("gap_ci_high")
        if low is None or high is None:
            return 0.0
        return high - r["gap"] if side == "plus" else r["gap"] - low

    fig = go.Figure(
        go.Bar(
            y=labels,
            x=[r["gap"] for r in rows],
            orientation="h",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [spread(r, "plus") for r in rows],
                "arrayminus": [spread(r, "minus") for r in rows],
                "visible": True,
            },
            name="gap (95 % CI over seeds)",
            marker_color="#2563eb",
            hovertemplate="%{y}<br>gap %{x:.2f}<extra></extra>",
        )
    )
    for row, label in zip(rows, labels, strict=True):  # right of each error bar, so neither hides the other
        fig.add_annotation(
            x=max(row["gap"] + spread(row, "plus"), 0.0),
            y=label,
            text=annotation(row),
            showarrow=False,
            xanchor="left",
            xshift=6,
            font={"size": 11},
        )
    unit = "points" if section["goal"] == "max" else section["metric"]
    fig.update_layout(
        title=f"{section['grid']}: gap to the row's own teacher ensemble ({unit}; 0 = as good as the teacher)",
        xaxis={"title": f"gap ({unit}), 95 % CI over seeds", "rangemode": "tozero", "zeroline": True},
        yaxis={"autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        height=160 + 30 * len(rows),
        showlegend=False,
    )
    return fig


def paired_figure(section: dict[str, Any]) -> go.Figure | None:
    """Every paired comparison of the report (row − baseline, seed by seed) as a bar from zero with its 95 %
    t-interval; 'n.s.' where the interval covers 0. None without comparisons."""
    labels = {r["group"]: row_label(section, r) for r in section["rows"]}
    several = len({r["model"] for r in section["rows"]}) > 1
    traces: dict[str, dict[str, list[Any]]] = {}
    for row in section["rows"]:
        for c in row.get("comparisons", []):
            name = f"{labels[row['group']]} − {labels.get(c['baseline_group'], c['baseline_group'])}"
            t = traces.setdefault(c["baseline"], {"y": [], "x": [], "plus": [], "minus": [], "text": []})
            t["y"].append(f"{name} · {row['model']}" if several else name)
            t["x"].append(c["mean"])
            low, high = c["ci_low"], c["ci_high"]
            t["plus"].append(0.0 if high is None else high - c["mean"])
            t["minus"].append(0.0 if low is None else c["mean"] - low)
            t["text"].append("" if c["significant"] else "n.s.")
    if not traces:
        return None
    fig = go.Figure()
    for baseline, t in traces.items():
        fig.add_trace(
            go.Bar(
                y=t["y"],
                x=t["x"],
                orientation="h",
                name=f"vs {'KD reference' if baseline == 'kd' else baseline}",
                error_x={"type": "data", "symmetric": False, "array": t["plus"], "arrayminus": t["minus"]},
                text=t["text"],
                textposition="outside",
            )
        )
    better = "> 0: the row is better" if section["goal"] == "max" else "< 0: the row is better"
    fig.update_layout(
        title=f"{section['grid']}: paired differences by seed, mean and 95 % CI ({better})",
        xaxis={"title": f"Δ {section['metric']}", "rangemode": "tozero", "zeroline": True},
        yaxis={"autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        height=160 + 26 * sum(len(t["y"]) for t in traces.values()),
        legend={"orientation": "h", "y": -0.15},
    )
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


def show_paper_tables(index: int, section: dict[str, Any]) -> None:
    """The supplement's tables this grid reproduces (teacher ablation, label smoothing, temperature, ...), laid
    out as printed there, with the paper's numbers in the columns headed 'paper'."""
    for number, table in enumerate(section.get("tables") or []):
        st.markdown(f"**{table['title']}** (paper view)")
        page.show_table(
            layout_frame(table),
            f"{PREFIX}_paper_{index}_{number}",
            f"{stem(section['grid'])}-{table['key']}",
        )
        for note in table["notes"]:
            st.caption(note)


def show_section(index: int, section: dict[str, Any]) -> None:
    st.subheader(section["grid"])
    if not section["rows"]:
        st.info("No student runs here, so there is no gap to show.", icon=":material/info:")
        return
    if any(r["gap"] is not None for r in section["rows"]):
        page.show_chart(gap_figure(section), f"{PREFIX}_chart_{index}", f"gap-{stem(section['grid'])}")
    elif any(r["mean"] is not None for r in section["rows"]):
        st.info("No row has a teacher ensemble score, so there is no gap to chart.", icon=":material/info:")
    else:
        st.info("No student has succeeded yet.", icon=":material/hourglass_empty:")
    if (paired := paired_figure(section)) is not None:
        page.show_chart(paired, f"{PREFIX}_paired_{index}", f"gap-paired-{stem(section['grid'])}")
    show_paper_tables(index, section)
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
