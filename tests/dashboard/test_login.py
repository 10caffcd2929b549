"""Dashboard login: a user token logs in (kept in the session only); admin, worker and unknown tokens are
refused; without a login the pages read but cannot write; the process's own admin token is never used."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import APP
from tests.support import Stack
from xclab.client import ApiError


def _login(at: AppTest, token: str) -> AppTest:
    at.sidebar.text_input[0].input(token)
    at.sidebar.button[0].click()
    return at.run()


def _token(stack: Stack, role: str) -> str:
    with stack.client() as client:
        return client.post("/tokens", json={"name": f"login-{role}", "role": role}).json()["token"]


def test_a_user_token_logs_in_and_out(dashboard_env: Stack) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception
    assert "xcl_token" not in at.session_state
    at = _login(at, _token(dashboard_env, "user"))
    assert at.session_state["xcl_token"].startswith("xcu_")
    assert any("login-user" in c.value for c in at.sidebar.caption)
    next(b for b in at.sidebar.button if b.label == "Log out").click()
    at.run()
    assert "xcl_token" not in at.session_state


def test_admin_worker_and_unknown_tokens_are_refused(dashboard_env: Stack) -> None:
    for token, says in [
        (dashboard_env.token, "admin token"),
        (_token(dashboard_env, "worker"), "worker token"),
        ("xcu_not-a-token", "unknown or revoked"),
    ]:
        at = _login(AppTest.from_file(str(APP), default_timeout=30).run(), token)
        assert "xcl_token" not in at.session_state
        assert any(says in e.value for e in at.sidebar.error), [e.value for e in at.sidebar.error]


def test_without_login_the_process_token_is_not_used(dashboard_env: Stack) -> None:
    # XCL_API_TOKEN (the admin token) is set in this process: the dashboard must still act anonymously.
    from dashboard.api import get_api

    with pytest.raises(ApiError) as refused:
        get_api().create_experiment("anonymous-write")
    assert refused.value.status_code == 401
