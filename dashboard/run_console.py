"""The run page's console: the worker's stdout and stderr as the run produces them, and a failure's traceback.

The page keeps a cursor per run in its session: a refresh asks the API only for the chunks after it, and the
console shows the last `TAIL_CHARS` characters. It is a fragment of its own, refreshed on its own timer, so new
lines never redraw the charts above (nor reset their zoom)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard.api import FINAL_STATUSES, get_api
from dashboard.ui import call

CONSOLE_REFRESH_SECONDS = 2.0
FIRST_READ_CHUNKS = 500  # a page opened late starts from the log's tail, not its 16 MiB start
TAIL_CHARS = 60_000
TAIL_LINES = (40, 200, 1000)
TRACEBACK_MARK = "Traceback (most recent call last):"


@dataclass
class ConsoleState:
    after_seq: int | None = None  # None: nothing read yet (start from the tail)
    text: str = ""
    total_bytes: int = 0
    truncated: bool = False
    chunks: int = 0

    def add(self, page: dict[str, Any]) -> None:
        """Fold a page of GET /runs/{id}/logs in; keep only the tail."""
        self.text = (self.text + "".join(c["text"] for c in page["chunks"]))[-TAIL_CHARS:]
        self.after_seq = page["next_after_seq"]
        self.total_bytes, self.truncated = page["total_bytes"], page["truncated"]
        self.chunks += len(page["chunks"])


def last_traceback(text: str) -> str | None:
    """The last Python traceback in the console, up to its exception line (the first unindented line after it)."""
    start = text.rfind(TRACEBACK_MARK)
    if start < 0:
        return None
    lines = text[start:].splitlines()
    end = next(
        (i for i, line in enumerate(lines[1:], 1) if line and not line.startswith(" ")), len(lines) - 1
    )
    return "\n".join(lines[: end + 1])


def read_more(run_id: int, state: ConsoleState) -> ConsoleState:
    api = get_api()
    if state.after_seq is None:
        state.add(call(api.read_run_logs, run_id, -1, FIRST_READ_CHUNKS, tail=True))
        return state
    while True:  # catch up page by page (a long gap between refreshes)
        page = call(api.read_run_logs, run_id, state.after_seq, 1_000)
        state.add(page)
        if len(page["chunks"]) < 1_000:
            return state


def full_log(run_id: int) -> str:
    """Every stored chunk, for the download button (fetched only on click)."""
    api, after, parts = get_api(), -1, []
    while True:
        page = api.read_run_logs(run_id, after, 5_000)
        parts += [c["text"] for c in page["chunks"]]
        if len(page["chunks"]) < 5_000:
            return "".join(parts)
        after = page["next_after_seq"]


def console_section(run_id: int, status: str) -> None:
    st.markdown("#### Console")
    key = f"run_console_{run_id}"
    state: ConsoleState = st.session_state.setdefault(key, ConsoleState())
    read_more(run_id, state)
    if not state.text:
        waiting = "The worker's output appears here as the run writes it."
        st.caption(waiting if status not in FINAL_STATUSES else "This run wrote nothing to its console.")
        return
    failure = last_traceback(state.text) if status == "failed" else None
    if failure:
        st.error("The run failed with this traceback:", icon=":material/bug_report:")
        st.code(failure, language="python")
    cols = st.columns([1, 4], vertical_alignment="center")
    lines = cols[0].selectbox(
        "Lines", TAIL_LINES, key=f"run_console_lines_{run_id}", label_visibility="collapsed"
    )
    note = " · cut at the size limit" if state.truncated else ""
    cols[1].caption(f"the last {lines} lines · {state.total_bytes:,} bytes stored{note}")
    # The newest lines at the bottom, in full view: a fixed-height box would open scrolled to its top.
    st.code("\n".join(state.text.splitlines()[-lines:]), language=None)
    st.download_button(
        "Download the full log",
        data=lambda: full_log(run_id),
        file_name=f"run-{run_id}.log",
        mime="text/plain",
        on_click="ignore",
        key=f"run_console_download_{run_id}",
        icon=":material/download:",
    )


def console(run_id: int, status: str) -> None:
    """The console, refreshed every CONSOLE_REFRESH_SECONDS while the run is not final."""
    live = status not in FINAL_STATUSES

    @st.fragment(run_every=CONSOLE_REFRESH_SECONDS if live else None)
    def view() -> None:
        console_section(run_id, status)

    view()
