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
