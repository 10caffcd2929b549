"""XCL Lab dashboard entry point: `streamlit run dashboard/app.py` (or `xclab dashboard`)."""

from __future__ import annotations

import streamlit as st

from dashboard.api import api_url, get_api
from dashboard.auth import login_sidebar
from dashboard.notify import notifications
from dashboard.ui import GRIDS_PAGE, LAUNCH_PAGE, RUN_PAGE, RUNS_PAGE

st.set_page_config(page_title="XCL Lab", page_icon=":material/science:", layout="wide")

pages = [
    st.Page(RUNS_PAGE, title="Runs", icon=":material/table_rows:", default=True),
    # Reached from a run's row, link or ?run=<id>; an empty "Run" entry in the menu helped no one.
    st.Page(RUN_PAGE, title="Run", icon=":material/monitoring:", visibility="hidden"),
    st.Page(LAUNCH_PAGE, title="Launch", icon=":material/rocket_launch:"),
    st.Page(GRIDS_PAGE, title="Grids", icon=":material/grid_view:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/difference:"),
    # The paper's analysis views of a grid or an experiment.
    st.Page("app_pages/gap.py", title="Gap", icon=":material/compare_arrows:"),
    st.Page("app_pages/entropy.py", title="Entropy", icon=":material/scatter_plot:"),
    st.Page("app_pages/student_size.py", title="Student size", icon=":material/show_chart:"),
    st.Page("app_pages/lineage.py", title="Lineage", icon=":material/account_tree:"),
    st.Page("app_pages/cost.py", title="Cost", icon=":material/timer:"),
    st.Page("app_pages/fleet.py", title="Fleet", icon=":material/dns:"),
]
page = st.navigation(pages)
login_sidebar(api_url())
st.sidebar.caption(f"API: {get_api().url}")
# Live refresh reruns a fragment every few seconds; Streamlit's "Running... Stop" badge would flicker each time.
st.html("<style>[data-testid='stStatusWidget'] {visibility: hidden;}</style>")
with st.sidebar:
    notifications()
page.run()
