"""Cost: wall-clock time per run and per grid on CPU and GPU queues, and what each student method gains over ERM of
the same model per hour of compute, its teachers' and generator's share included."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.analysis import AnalysisPage, stem

PREFIX = "cost"


page = AnalysisPage(PREFIX, plotly=False)  # Vega-Lite charts: no plotly.js to wait for


# ------------------------------------------------------------ this page

DEVICE_COLOURS = {"cpu": "#2563eb", "gpu": "#16a34a"}


def runs_frame(body: dict[str, Any]) -> pd.DataFrame:
    columns = ["run", "cell", "method", "model", "status", "attempt", "queue", "device", "seconds", "source"]
    rows = [
        {
            "run": r["run_id"],
            **{k: r[k] for k in columns[1:]},
            "hours": None if r["seconds"] is None else r["seconds"] / 3600,
        }
        for r in body["runs"]
    ]
    return pd.DataFrame(rows, columns=[*columns, "hours"])


def methods_frame(body: dict[str, Any]) -> pd.DataFrame:
    columns = [
        "grid",
        "method",
        "model",
        "device",
        "n",
        "mean",
        "erm_mean",
        "gain",
        "hours_per_run",
        "dependency_hours_per_run",
        "charged_hours_per_run",
        "gain_per_hour",
    ]
    return pd.DataFrame([{k: m.get(k) for k in columns} for m in body["methods"]], columns=columns)


def grids_frame(body: dict[str, Any]) -> pd.DataFrame:
    columns = ["grid", "runs", "cpu_hours", "gpu_hours", "cpu_seconds", "gpu_seconds"]
    return pd.DataFrame([{k: g[k] for k in columns} for g in body["grids"]], columns=columns)


def hours_figure(body: dict[str, Any]) -> alt.Chart:
    """Compute per grid (or per task outside grids), CPU and GPU hours stacked from zero. Vega-Lite, not plotly:
    its renderer reaches the screen well before plotly.js's bundle has loaded (docs/performance.md)."""
    rows = [
        {"grid": g["grid"], "queues": f"wall hours on {d.upper()} queues", "hours": g[f"{d}_hours"]}
        for g in body["grids"]
        for d in DEVICE_COLOURS
    ]
    return (
        alt.Chart(pd.DataFrame(rows, columns=["grid", "queues", "hours"]), height=300)
        .mark_bar()
        .encode(
            x=alt.X("grid:N", title=None, sort=None, axis=alt.Axis(labelAngle=0, labelLimit=200)),
            y=alt.Y("sum(hours):Q", title="wall-clock hours", stack="zero", scale=alt.Scale(zero=True)),
            color=alt.Color("queues:N", scale=_device_scale("wall hours on {} queues"), legend=_LEGEND),
            tooltip=["grid", "queues", alt.Tooltip("hours:Q", format=".3f")],
        )
        .properties(title="Wall-clock time per grid (last attempt of every run)")
    )


_LEGEND = alt.Legend(orient="bottom", title=None)


def _device_scale(label: str) -> alt.Scale:
    """The device colours, whatever devices the data has."""
    return alt.Scale(
        domain=[label.format(d.upper()) for d in DEVICE_COLOURS], range=list(DEVICE_COLOURS.values())
    )


def minutes(hours: float | None) -> str:
    return "–" if hours is None else f"{hours * 60:.0f} min" if hours >= 1 / 6 else f"{hours * 3600:.0f} s"


def gain_text(m: dict[str, Any]) -> str:
    """ "+3.00 in 195 min (120 min of it teachers)": the cost a student's gain is divided by."""
    deps = m.get("dependency_hours_per_run") or 0.0
    charged = m.get("charged_hours_per_run") or m["hours_per_run"]
    tail = f" ({minutes(deps)} of it teachers/generator)" if deps else ""
    return f"{m['gain']:+.2f} in {minutes(charged)}{tail}"


def gain_figure(body: dict[str, Any]) -> alt.Chart | None:
    """Metric gained over ERM of the same model per hour of one run, per student group, bars from zero; each bar's
    axis label carries the gain and its charged time."""
    rows = [m for m in body["methods"] if m["gain_per_hour"] is not None and m["method"] != "erm"]
    if not rows:
        return None
    several = len({(m["grid"], m["model"]) for m in rows}) > 1
    students = [f"{m['method']} · {m['model']}" if several else m["method"] for m in rows]
    frame = pd.DataFrame(
        [
            {
                "student": student,
                # Text next to a bar collides with the axis (negative gains) or is cut at the chart's edge.
                "bar": f"{student}: {gain_text(m)}",
                "per": f"per {m['device'].upper()}-hour",
                "gain_per_hour": m["gain_per_hour"],
                "label": gain_text(m),
            }
            for student, m in zip(students, rows, strict=True)
        ],
        columns=["student", "bar", "per", "gain_per_hour", "label"],
    )
    metric = rows[0]["metric"]
    return (
        alt.Chart(frame, height=alt.Step(26))
        .mark_bar()
        .encode(
            y=alt.Y("bar:N", title=None, sort=None, axis=alt.Axis(labelLimit=480)),
            x=alt.X("gain_per_hour:Q", title="gain per hour", scale=alt.Scale(zero=True)),
            color=alt.Color("per:N", scale=_device_scale("per {}-hour"), legend=_LEGEND),
            tooltip=["student", "per", alt.Tooltip("gain_per_hour:Q", format="+.2f"), "label"],
        )
        .properties(
            title=f"{metric} gained over ERM per hour of one run, teachers' share included"
            + (" (error removed, for an error metric)" if rows[0]["goal"] == "min" else "")
        )
    )


body = page.load(
    "Cost",
    "Wall-clock time per run (its wall_time_s metric, else finished − started, of its last attempt), counted on "
    "GPU for runs on a GPU queue and on CPU otherwise. It is elapsed time, not CPU time: runs sharing cores each "
    "count their full duration.",
    "cost",
)
if not body["runs"]:
    st.info("No runs here yet.", icon=":material/info:")
    st.stop()
name = stem(body["scope"]["name"])
total = body["total"]
cols = st.columns(3)
cols[0].metric("Runs", total["runs"])
cols[1].metric("Wall hours, CPU queues", f"{total['cpu_hours']:.2f}")
cols[2].metric("Wall hours, GPU queues", f"{total['gpu_hours']:.2f}")
st.altair_chart(hours_figure(body), key=f"{PREFIX}_hours_chart")
gain = gain_figure(body)
if gain is not None:
    st.altair_chart(gain, key=f"{PREFIX}_gain_chart")
else:
    st.info(
        "No method has both a result and an ERM row of the same model to compare with yet.",
        icon=":material/info:",
    )
st.markdown("#### Methods")
page.show_table(
    methods_frame(body),
    f"{PREFIX}_methods",
    f"cost-methods-{name}",
    column_config={
        "mean": st.column_config.NumberColumn("mean", format="%.2f"),
        "erm_mean": st.column_config.NumberColumn("ERM mean", format="%.2f"),
        "gain": st.column_config.NumberColumn("gain vs ERM", format="%+.2f"),
        "hours_per_run": st.column_config.NumberColumn("own hours per run", format="%.3f"),
        "dependency_hours_per_run": st.column_config.NumberColumn(
            "teachers + generator share",
            format="%.3f",
            help="Their hours split among the runs that use them.",
        ),
        "charged_hours_per_run": st.column_config.NumberColumn("charged hours per run", format="%.3f"),
        "gain_per_hour": st.column_config.NumberColumn(
            "gain per charged hour",
            format="%+.2f",
            help="Empty under one minute of compute: a rate over noise.",
        ),
    },
)
st.caption(body["note"])
st.markdown("#### Grids")
page.show_table(
    grids_frame(body),
    f"{PREFIX}_grids",
    f"cost-grids-{name}",
    column_config={
        "cpu_hours": st.column_config.NumberColumn("wall hours (CPU queues)", format="%.3f"),
        "gpu_hours": st.column_config.NumberColumn("wall hours (GPU queues)", format="%.3f"),
    },
)
st.markdown("#### Runs")
page.show_table(
    runs_frame(body),
    f"{PREFIX}_runs",
    f"cost-runs-{name}",
    column_config={
        "seconds": st.column_config.NumberColumn("seconds", format="%.1f"),
        "hours": st.column_config.NumberColumn("hours", format="%.3f"),
    },
)
