"""The local stack's worker leaves room for the API and dashboard; `xclab dashboard` leaves no orphan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from cli.local_worker import WORKER_NICENESS, lower_priority, thread_budget, worker_env
from tests.cli.conftest import plain_env
from tests.support import free_port


def test_thread_budget_leaves_a_core_for_the_api_and_dashboard() -> None:
    assert thread_budget(cpus=2, concurrency=1) == 1
    assert thread_budget(cpus=8, concurrency=1) == 7
    assert thread_budget(cpus=8, concurrency=2) == 3
    assert thread_budget(cpus=1, concurrency=1) == 1 and thread_budget(cpus=2, concurrency=4) == 1


def test_worker_env_sets_the_budget_unless_the_user_did() -> None:
    env = worker_env({"PATH": "/bin"}, cpus=8, concurrency=1)
    assert env["XCL_TORCH_THREADS"] == env["OMP_NUM_THREADS"] == "7" and env["PATH"] == "/bin"
    mine = worker_env({"XCL_TORCH_THREADS": "3", "OMP_NUM_THREADS": "2"}, cpus=8, concurrency=1)
    assert (mine["XCL_TORCH_THREADS"], mine["OMP_NUM_THREADS"], mine["MKL_NUM_THREADS"]) == ("3", "2", "3")


@pytest.mark.skipif(os.name != "posix", reason="niceness is POSIX")
def test_lower_priority_makes_the_child_nicer_than_its_parent() -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.nice(0))"],
        preexec_fn=lower_priority,
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(child.stdout) == min(19, os.nice(0) + WORKER_NICENESS)


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.skipif(os.name != "posix", reason="signals and exec are POSIX")
def test_stopping_xclab_dashboard_stops_streamlit() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "dashboard", "--port", str(port)],
        env={**plain_env(), "XCL_API_URL": "http://127.0.0.1:9"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            assert proc.poll() is None and time.monotonic() < deadline, "the dashboard never answered"
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        deadline = time.monotonic() + 10
        while _answers(port):  # nothing of it may keep serving the port
            assert time.monotonic() < deadline, "a Streamlit process still serves the port"
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
