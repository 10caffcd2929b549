"""Login: a visitor signs in with a user token, held in their own session only.

The dashboard process holds no token of its own: every call a page makes carries the visitor's token (or none,
in which case the API answers reads as it would any anonymous client, and refuses writes). Admin and worker
tokens are refused here, so the admin token never lives in a browser session."""

from __future__ import annotations

import streamlit as st

from xclab.client import ApiClient, ApiError, ApiUnavailable

TOKEN_KEY = "xcl_token"
NAME_KEY = "xcl_token_name"
CREATE_HINT = "Create one with `xclab token create --role user --name you` (`xclab up` prints one)."


def session_token() -> str | None:
    """The token this browser session logged in with, if any."""
    token = st.session_state.get(TOKEN_KEY)
    return token if isinstance(token, str) and token else None


def check_login(api_url: str, token: str) -> tuple[str | None, str]:
    """(the token's name when it may be used here, else None; a message for the visitor)."""
    with ApiClient(api_url, token, timeout=10.0, connect_timeout=3.0, retry_seconds=0) as client:
        try:
            me = client.whoami()
        except ApiUnavailable as exc:
            return None, f"Cannot reach the API at {exc.url} ({exc.reason})."
        except ApiError as exc:
            if exc.status_code == 401:
                return None, f"This token is unknown or revoked. {CREATE_HINT}"
            return None, f"The API refused: {exc.message}"
    if not me["auth"]:
        return "anyone", "The API accepts every request (it runs with --insecure-no-auth)."
    if me["role"] != "user":
        return None, (
            f"That is a{'n' if me['role'] == 'admin' else ''} {me['role']} token; the dashboard only takes user "
            f"tokens, so that no admin or worker token sits in a browser. {CREATE_HINT}"
        )
    return me["name"], f"Logged in as {me['name']}."


def login_sidebar(api_url: str) -> None:
    """The sidebar's login form, or who is logged in with a log-out button."""
    with st.sidebar:
        if session_token():
            st.caption(f"Logged in as **{st.session_state.get(NAME_KEY, 'user')}**")
            if st.button("Log out", key="xcl_logout"):
                st.session_state.pop(TOKEN_KEY, None)
                st.session_state.pop(NAME_KEY, None)
                st.rerun()
            return
        with st.form("xcl_login", border=False):
            token = st.text_input("User token", type="password", help=CREATE_HINT)
            submitted = st.form_submit_button("Log in")
        if submitted and token.strip():
            name, message = check_login(api_url, token.strip())
            if name is None:
                st.error(message)
            else:
                st.session_state[TOKEN_KEY] = token.strip()
                st.session_state[NAME_KEY] = name
                st.rerun()
        else:
            st.caption("Not logged in: reading only (if the API allows it). Log in to launch or change runs.")
