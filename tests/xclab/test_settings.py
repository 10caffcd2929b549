"""Where a process finds its API token: XCL_API_TOKEN, else the file XCL_API_TOKEN_FILE names (how a container
gets a worker token without it sitting in its environment), else the one `xclab up` stored under home."""

from __future__ import annotations

from pathlib import Path

import pytest

from xclab.settings import TOKEN_FILE_MAX_BYTES, Settings, TokenFileError


def test_the_token_file_is_read_when_no_token_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "worker"
    file.write_text("  xcw_secret\n")
    monkeypatch.setenv("XCL_API_TOKEN_FILE", str(file))
    monkeypatch.delenv("XCL_API_TOKEN", raising=False)
    assert Settings(home=tmp_path / "home", _env_file=None).resolved_api_token() == "xcw_secret"
    # An explicit token wins; the stored home/token is only the last resort.
    assert Settings(home=tmp_path, api_token="xca_admin", _env_file=None).resolved_api_token() == "xca_admin"
    (tmp_path / "token").write_text("stored\n")
    assert Settings(home=tmp_path, _env_file=None).resolved_api_token() == "xcw_secret"
    monkeypatch.delenv("XCL_API_TOKEN_FILE")
    assert Settings(home=tmp_path, _env_file=None).resolved_api_token() == "stored"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "cannot be read"),
        ("", "exactly one token"),
        ("two tokens\n", "exactly one token"),
        ("x" * (TOKEN_FILE_MAX_BYTES + 1), f"at most {TOKEN_FILE_MAX_BYTES}"),
    ],
    ids=["missing", "empty", "two-words", "too-large"],
)
def test_a_named_token_file_that_holds_no_token_is_an_error(
    tmp_path: Path, content: str | None, error: str
) -> None:
    file = tmp_path / "worker"
    if content is not None:
        file.write_text(content)
    settings = Settings(home=tmp_path, api_token_file=file, _env_file=None)
    with pytest.raises(TokenFileError, match=error) as caught:
        settings.resolved_api_token()
    assert str(file) in str(caught.value)
