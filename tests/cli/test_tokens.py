"""`xclab token` and `xclab serve`'s refusal to run open, as real processes on a real SQLite database."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.cli.conftest import plain_env, xclab
from tests.support import free_port


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**plain_env(), "XCL_HOME": str(tmp_path / "home")}
    assert xclab(env, "db", "upgrade").returncode == 0
    return env


def test_create_list_revoke(tmp_path: Path) -> None:
    env = _env(tmp_path)
    created = xclab(env, "token", "create", "--role", "user", "--name", "alice")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("xcu_") and len(token) > 30
    listed = xclab(env, "token", "list")
    assert "alice" in listed.stdout and "user" in listed.stdout and token not in listed.stdout
    assert xclab(env, "token", "create", "--role", "root", "--name", "x").returncode == 2
    revoked = xclab(env, "token", "revoke", "1")
    assert revoked.returncode == 0 and "revoked token 1" in revoked.stdout
    assert "alice" not in xclab(env, "token", "list").stdout
    assert "alice" in xclab(env, "token", "list", "--all").stdout
    assert xclab(env, "token", "revoke", "99").returncode == 1


def test_serve_refuses_to_run_without_any_token(tmp_path: Path) -> None:
    refused = xclab(_env(tmp_path), "serve", "--port", str(free_port()))
    assert refused.returncode == 2
    assert "refusing to serve without a token" in refused.stdout and "--insecure-no-auth" in refused.stdout


def test_serve_insecure_no_auth_says_so_loudly_and_accepts_writes(tmp_path: Path) -> None:
    env, port = _env(tmp_path), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port), "--insecure-no-auth"],
        env={**env, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        assert httpx.post(f"{url}/experiments", json={"name": "open"}).status_code == 201
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "authentication is OFF" in output


def test_ensure_writes_a_private_token_file_once_and_replaces_a_dead_one(tmp_path: Path) -> None:
    """What the compose init step runs at every start: the first run issues, later runs keep the file."""
    env, file = _env(tmp_path), tmp_path / "tokens" / "worker"
    args = ("token", "ensure", "--role", "worker", "--name", "compose-worker", "--file", str(file))
    first = xclab(env, *args)
    assert first.returncode == 0 and "issued a new worker token" in first.stdout, first.stdout + first.stderr
    token = file.read_text().strip()
    assert token.startswith("xcw_") and token not in first.stdout  # never printed
    assert file.stat().st_mode & 0o777 == 0o600
    file.chmod(0o644)
    again = xclab(env, *args)
    assert again.returncode == 0 and "kept token 1" in again.stdout
    assert file.read_text().strip() == token and file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in file.parent.iterdir()] == ["worker"]  # no temporary file left

    # A user token in the file is not a worker token: replaced (and the old worker token, of this name, revoked).
    as_user = xclab(env, "token", "ensure", "--role", "user", "--name", "compose-worker", "--file", str(file))
    assert as_user.returncode == 0 and "issued a new user token" in as_user.stdout
    assert file.read_text().startswith("xcu_")
    live = xclab(env, "token", "list").stdout
    assert live.count("compose-worker") == 1 and "worker " not in live.replace("compose-worker", "")
    revoked = xclab(env, "token", "revoke", "2")
    assert revoked.returncode == 0
    replaced = xclab(env, *args)
    assert "issued a new worker token" in replaced.stdout and file.read_text().strip() != token
    file.write_text("not a token at all\n")
    assert "issued" in xclab(env, *args).stdout and file.read_text().startswith("xcw_")
    assert xclab(env, "token", "ensure", "--role", "root", "--name", "x", "--file", str(file)).returncode == 2


def test_a_worker_whose_token_file_is_missing_stops_at_once(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "XCL_API_TOKEN_FILE": str(tmp_path / "absent")}
    refused = xclab(env, "worker", "--queues", "cpu")
    assert refused.returncode == 2 and "absent cannot be read" in refused.stdout.replace("\n", "")
