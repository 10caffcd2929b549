"""Lineage: teacher → student and generator → student edges between the runs of a grid or an experiment, with
students marked stale when a dependency was re-run after they started."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.analysis import AnalysisPage, stem
from dashboard.ui import STATUS_CELL

PREFIX = "lineage"


page = AnalysisPage(PREFIX)


# ------------------------------------------------------------ this page

STATUS_COLOURS = {
    "waiting": "#f97316",
    "queued": "#eab308",
    "running": "#06b6d4",
    "succeeded": "#22c55e",
    "failed": "#ef4444",
    "cancelled": "#9ca3af",
}
EDGE_STYLES = {  # name -> (plotly line, DOT attributes)
    "teacher": ({"color": "#9ca3af", "width": 1.5}, 'color="#6b7280"'),
    "generator": ({"color": "#a855f7", "width": 1.5, "dash": "dot"}, 'color="#a855f7", style=dotted'),
    "stale": (
        {"color": "#dc2626", "width": 2.5, "dash": "dash"},
        'color="#dc2626", style=dashed, penwidth=2',
    ),
}


def short_label(node: dict[str, Any]) -> str:
    """#id plus what the cell says: ens/k for a teacher, the method and seed for a student."""
    parts = (node["cell"] or "").split("/")
    if parts[0] == "teacher" and len(parts) == 3:
        text = f"{parts[1]}/{parts[2]}"
    elif parts[0] == "generator" and len(parts) == 2:
        text = parts[1]
    elif parts[0] == "student" and len(parts) >= 4:
        text = f"{parts[1]} s{parts[-1].removeprefix('seed=')}"
    else:
        text = node["method"]
    return f"#{node['id']} {text}"


def layout(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[int, tuple[float, float]]:
    """Layers by dependency depth (teachers and generators left, their students right), spread vertically."""
    parents: dict[int, list[int]] = {}
    for e in edges:
        parents.setdefault(e["target"], []).append(e["source"])
    depth: dict[int, int] = {}
    for node in sorted(nodes, key=lambda n: n["id"]):  # dependencies always have smaller ids
        depth[node["id"]] = 1 + max((depth.get(p, 0) for p in parents.get(node["id"], [])), default=-1)
        if node["role"] == "student" and edges:  # ERM students sit with the other students, not the teachers
            depth[node["id"]] = max(depth[node["id"]], 1)
    layers: dict[int, list[dict[str, Any]]] = {}
    for node in nodes:
        layers.setdefault(depth[node["id"]], []).append(node)
    positions = {}
    for x, members in layers.items():
        members.sort(key=lambda n: (n["role"], n["cell"] or "", n["id"]))
        for i, node in enumerate(members):
            positions[node["id"]] = (float(x), (len(members) - 1) / 2 - i)
    return positions


def lineage_figure(body: dict[str, Any]) -> go.Figure:
    nodes, edges = body["nodes"], body["edges"]
    pos = layout(nodes, edges)
    fig = go.Figure()
    for style, (line, _) in EDGE_STYLES.items():
        xs: list[float | None] = []
        ys: list[float | None] = []
        for e in edges:
            kind = "stale" if e["stale"] else e["kind"]
            if kind == style and e["source"] in pos and e["target"] in pos:
                (x0, y0), (x1, y1) = pos[e["source"]], pos[e["target"]]
                xs += [x0, x1, None]
                ys += [y0, y1, None]
        if xs:
            name = {"teacher": "teacher → student", "generator": "generator → student"}.get(
                style, "stale edge"
            )
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=line, name=name, hoverinfo="skip"))
    stale = [n for n in nodes if n["stale"]]
    if stale:
        fig.add_trace(
            go.Scatter(
                x=[pos[n["id"]][0] for n in stale],
                y=[pos[n["id"]][1] for n in stale],
                mode="markers",
                marker={"size": 26, "symbol": "circle-open", "color": "#dc2626", "line": {"width": 3}},
                name="stale student",
                hovertext=["<br>".join(n["stale_reasons"]) for n in stale],
                hoverinfo="text",
            )
        )
    for status, colour in STATUS_COLOURS.items():
        members = [n for n in nodes if n["status"] == status]
        if not members:
            continue
        fig.add_trace(
            go.Scatter(
                x=[pos[n["id"]][0] for n in members],
                y=[pos[n["id"]][1] for n in members],
                mode="markers+text",
                marker={
                    "size": 16,
                    "color": colour,
                    "symbol": ["square" if n["external"] else "circle" for n in members],
                    "line": {"width": 1, "color": "#111827"},
                },
                text=[short_label(n) for n in members],
                textposition=["middle left" if pos[n["id"]][0] == 0 else "middle right" for n in members],
                name=status,
                hovertext=[hover(n) for n in members],
                hoverinfo="text",
            )
        )
    depth = max((p[0] for p in pos.values()), default=0)
    tallest = max(Counter(x for x, _ in pos.values()).values(), default=1)  # nodes in the fullest layer
    fig.update_layout(
        title=f"{body['scope']['name']}: teacher and generator → student lineage",
        xaxis={"visible": False, "range": [-0.6, depth + 0.9]},  # room for the labels on both sides
        yaxis={"visible": False},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        height=max(360, 34 * tallest),
        legend={"orientation": "h", "y": -0.05},
    )
    return fig


def hover(node: dict[str, Any]) -> str:
    value = "–" if node["value"] is None else f"{node['value']:.3f}"
    lines = [
        f"run #{node['id']} · {node['role']}" + (" (other experiment)" if node["external"] else ""),
        node["cell"] or f"{node['method']} · {node['model']}",
        f"{node['status']} · attempt {node['attempt']} · {node['metric']} {value}",
    ]
    return "<br>".join(lines + node["stale_reasons"])


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def dot_source(body: dict[str, Any]) -> str:
    """The same graph for Graphviz (st.graphviz_chart renders it; the .dot file opens anywhere)."""
    lines = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
    ]
    for n in body["nodes"]:
        value = "" if n["value"] is None else f" {n['value']:.2f}"
        label = _dot_text(f"{short_label(n)}\\n{n['status']}{value}")
        extra = ', color="#dc2626", penwidth=3' if n["stale"] else ""
        extra += ", peripheries=2" if n["external"] else ""
        lines.append(
            f'  r{n["id"]} [label="{label}", fillcolor="{STATUS_CELL.get(n["status"], "#ffffff")}"{extra}];'
        )
    for e in body["edges"]:
        attrs = EDGE_STYLES["stale" if e["stale"] else e["kind"]][1]
        lines.append(f"  r{e['source']} -> r{e['target']} [{attrs}];")
    lines.append("}")
    return "\n".join(lines)


def nodes_frame(body: dict[str, Any]) -> pd.DataFrame:
    columns = [
        "id",
        "role",
        "cell",
        "method",
        "model",
        "status",
        "attempt",
        "metric",
        "value",
        "stale",
        "why",
    ]
    rows = [
        {
            **{k: n[k] for k in columns if k in n},
            "why": "; ".join(n["stale_reasons"]),
            "other experiment": n["external"],
        }
        for n in body["nodes"]
    ]
    return pd.DataFrame(rows, columns=[*columns, "other experiment"])


def edges_frame(body: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(body["edges"], columns=["source", "target", "kind", "stale"])


body = page.load(
    "Lineage",
    "Every run of the grid or experiment, with an edge from each teacher (and generator) to the students "
    "trained from it. A student is stale when a dependency finished after the student started, or is being re-run.",
    "lineage",
)
if not body["nodes"]:
    st.info("No runs here yet.", icon=":material/info:")
    st.stop()
if body["stale"]:
    st.warning(
        f"{len(body['stale'])} stale student(s): "
        + ", ".join(f"#{i}" for i in body["stale"])
        + ". Their teacher or generator was re-run after they started; retry them to refresh their results.",
        icon=":material/warning:",
    )
page.show_chart(lineage_figure(body), f"{PREFIX}_chart", f"lineage-{stem(body['scope']['name'])}")
dot = dot_source(body)
with st.expander("Graphviz view", icon=":material/account_tree:"):
    st.graphviz_chart(dot)
    st.download_button(
        "Download DOT",
        dot,
        file_name=f"lineage-{stem(body['scope']['name'])}.dot",
        mime="text/vnd.graphviz",
        on_click="ignore",
        key=f"{PREFIX}_dot",
        icon=":material/download:",
    )
st.markdown("#### Runs")
page.show_table(
    nodes_frame(body),
    f"{PREFIX}_nodes",
    f"lineage-runs-{stem(body['scope']['name'])}",
    column_config={"value": st.column_config.NumberColumn("value", format="%.3f")},
)
st.markdown("#### Edges")
page.show_table(edges_frame(body), f"{PREFIX}_edges", f"lineage-edges-{stem(body['scope']['name'])}")
