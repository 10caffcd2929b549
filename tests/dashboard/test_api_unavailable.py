"""Without an API the dashboard explains where it looked and how to start one, on every page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import APP
from tests.support import free_port
from xclab.settings import get_settings


@pytest.fixture()
def no_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    monkeypatch.setenv("XCL_API_URL", url)
    monkeypatch.setenv("XCL_API_TOKEN", "unused")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.mark.parametrize("page", [None, "app_pages/run.py", "app_pages/launch.py"])
def test_connection_refused_is_explained(no_api: str, page: str | None) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    if page:
        at.switch_page(page)
        at.query_params["run"] = "1"
        at.run()
    assert not at.exception, at.exception
    [error] = at.error
    assert f"Cannot reach the XCL Lab API at {no_api}" in error.value
    assert "xclab up" in error.value
