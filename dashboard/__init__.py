"""Streamlit dashboard: launches runs and shows their reports, talking to the backend only through `api`."""
