"""What every analysis page (gap, entropy, student size, lineage, cost) shares: the grid-or-experiment picker,
charts whose camera button saves SVG or PNG, and tables with a CSV download."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.api import get_api
from dashboard.ui import call


def stem(name: str) -> str:
    """A file-name-safe version of a grid or experiment name."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-") or "scope"


class AnalysisPage:
    """Widget keys are prefixed per page so that the pages keep separate selections."""

    def __init__(self, prefix: str, plotly: bool = True) -> None:
        """plotly=False for a page whose charts are all Vega-Lite: their toolbar saves PNG only, so no format
        picker."""
        self.prefix = prefix
        self.plotly = plotly

    def _key(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def _follow_url(self, kind: str) -> None:
        st.query_params.clear()
        st.query_params[kind] = str(st.session_state[self._key(kind)])

    def pick_scope(self) -> dict[str, int] | None:
        """A grid or an experiment from a selectbox; ?grid=<id> or ?experiment=<id> (a shared link) preselects it."""
        api = get_api()
        grids = {g["id"]: f"#{g['id']} {g['name']} · {g['task']}" for g in call(api.list_grids, cells=False)}
        experiments = {
            e["id"]: f"#{e['id']} {e['name']} · {e['run_count']} runs" for e in call(api.list_experiments)
        }
        wanted = {k: st.query_params.get(k, "") for k in ("grid", "experiment")}
        if self._key("kind") not in st.session_state:
            st.session_state[self._key("kind")] = "experiment" if wanted["experiment"] else "grid"
        for kind, labels in (("grid", grids), ("experiment", experiments)):
            key = self._key(kind)
            if wanted[kind].isdigit() and int(wanted[kind]) in labels and key not in st.session_state:
                st.session_state[key] = int(wanted[kind])
        cols = st.columns([1, 3], vertical_alignment="bottom")
        kind = cols[0].radio("Analyse a", ["grid", "experiment"], key=self._key("kind"), horizontal=True)
        labels = grids if kind == "grid" else experiments
        if not labels:
            st.info(f"No {kind}s yet: launch a grid on the Grids page.", icon=":material/info:")
            return None
        chosen = cols[1].selectbox(
            kind.capitalize(),
            list(labels),
            format_func=labels.__getitem__,
            key=self._key(kind),
            on_change=self._follow_url,
            args=(kind,),
        )
        if not self.plotly:
            return {f"{kind}_id": chosen}
        st.radio(
            "Chart downloads (camera button on each chart)",
            ["svg", "png"],
            format_func=str.upper,
            key=self._key("format"),
            horizontal=True,
        )
        return {f"{kind}_id": chosen}

    def show_chart(self, fig: go.Figure, key: str, filename: str) -> None:
        """A plotly chart whose modebar camera saves an SVG or a PNG (the format picked above)."""
        fmt = st.session_state.get(self._key("format"), "svg")
        st.plotly_chart(
            fig,
            key=key,
            config={
                "toImageButtonOptions": {
                    "format": fmt,
                    "filename": filename,
                    "scale": 2 if fmt == "png" else 1,
                },
                "displaylogo": False,
            },
        )

    def show_table(self, frame: pd.DataFrame, key: str, filename: str, **kwargs: Any) -> None:
        st.dataframe(frame, hide_index=True, key=key, placeholder="–", **kwargs)
        st.download_button(
            "Download CSV",
            frame.to_csv(index=False),
            file_name=f"{filename}.csv",
            mime="text/csv",
            on_click="ignore",
            key=f"{key}_csv",
            icon=":material/download:",
        )

    def load(self, title: str, caption: str, view: str) -> dict[str, Any]:
        """Title and caption, the scope picker, then the analytics view for the picked scope (stops if none)."""
        st.title(title)
        st.caption(caption)
        scope = self.pick_scope()
        if scope is None:
            st.stop()
        return call(get_api().get_analytics, view, **scope)

    @staticmethod
    def show_sections(body: dict[str, Any], show: Callable[[int, dict[str, Any]], None]) -> None:
        """One block per section (a grid, or a task's runs outside grids) of an analytics answer."""
        if not body["sections"]:
            st.info("No runs here yet.", icon=":material/info:")
        for i, section in enumerate(body["sections"]):
            show(i, section)
