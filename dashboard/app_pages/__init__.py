"""Page scripts for `st.navigation` (not `pages/`, so Streamlit's automatic page discovery stays off)."""
