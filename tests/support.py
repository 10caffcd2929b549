"""Test helpers that start real processes: the API server and Celery workers."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

# The services the `postgres` and `redis` tests need; point these at closed ports to check that
# `pytest -m "not postgres and not redis"` needs neither.
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# A database number of its own per test session, so that test sessions running side by side on one Redis do not
# take each other's messages (0 is left to anything else on the machine).
REDIS_URL = f"{os.environ.get('TEST_REDIS_URL', 'redis://127.0.0.1:6379')}/{1 + uuid.uuid4().int % 15}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def fresh_postgres_database(template: str | None = None) -> Iterator[str]:
    """A brand-new PostgreSQL database (empty, or a copy of `template`'s database), dropped afterwards."""
    name = f"xclab_test_{uuid.uuid4().hex[:10]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(make_url(template).database or ""))
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(create)
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def terminate_backends(database: str, pids: Sequence[int] | None = None) -> None:
    """Terminate these backends of the database (all of them by default) and wait until they have exited and so
    closed their connections, as after a restart."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        if pids is None:
            found = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))
            pids = [pid for (pid,) in found]
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)).fetchone():
            if time.monotonic() > deadline:
                raise TimeoutError(f"backends {pids} did not exit")
            time.sleep(0.01)


def copy_sqlite_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite file (its WAL folded in), through SQLite's own backup API."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def base_env(home: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XCL_")}
    env.update({"XCL_HOME": str(home), "PYTHONUNBUFFERED": "1"})
    env.update(overrides)
    return env


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:]) if self.log.exists() else ""


def start_process(name: str, args: list[str], env: dict[str, str], logdir: Path) -> Process:
    logdir.mkdir(parents=True, exist_ok=True)
    log = logdir / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Process(name, proc, log)


@dataclass
class Stack:
    """A live API server (and optionally workers) on real processes, plus an authenticated client."""

    home: Path
    api_url: str
    token: str
    env: dict[str, str]
    processes: list[Process] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.api_url}/api/v1", headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def start_worker(self, name: str = "worker", queues: str = "cpu,gpu") -> Process:
        worker = start_process(name, ["worker", "--queues", queues], self.env, self.home / "logs")
        self.processes.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(f"----- {p.name}\n{p.tail()}" for p in self.processes)

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()

    def wait_for_status(self, run_id: int, statuses: set[str], timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while time.monotonic() < deadline:
                run = client.get(f"/runs/{run_id}").json()
                if run["status"] in statuses:
                    return run
                for p in self.processes:
                    assert p.proc.poll() is None, f"{p.name} died:\n{self.logs()}"
                time.sleep(0.25)
        raise AssertionError(
            f"run {run_id} still {run['status']} after {timeout} s (wanted {statuses})\n{self.logs()}"
        )


def start_stack(
    home: Path,
    database_url: str | None = None,
    broker_url: str | None = None,
    workers: int = 0,
    extra_env: dict[str, str] | None = None,
) -> Stack:
    """Migrate, start `xclab serve` on a free port and wait for health; optionally start workers."""
    port = free_port()
    token = "test-token-" + uuid.uuid4().hex[:8]
    overrides = {
        "XCL_API_TOKEN": token,
        "XCL_API_URL": f"http://127.0.0.1:{port}",
        "XCL_HEARTBEAT_SECONDS": "0.5",
        **(extra_env or {}),
    }
    if database_url:
        overrides["XCL_DATABASE_URL"] = database_url
    if broker_url:
        overrides["XCL_BROKER_URL"] = broker_url
    env = base_env(home, **overrides)
    subprocess.run([sys.executable, "-m", "cli", "db", "upgrade"], env=env, check=True, capture_output=True)
    stack = Stack(home=home, api_url=f"http://127.0.0.1:{port}", token=token, env=env)
    stack.processes.append(start_process("api", ["serve", "--port", str(port)], env, home / "logs"))
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{stack.api_url}/api/v1/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or stack.processes[0].proc.poll() is not None:
            stack.stop()
            raise RuntimeError(f"API did not start:\n{stack.logs()}")
        time.sleep(0.2)
    for i in range(workers):
        stack.start_worker(f"worker{i}")
    return stack


def digits_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "task": "digits",
        "model": {"name": "small-cnn", "width": 0.5},
        "method": {"name": "erm"},
        "teachers": [],
        "seed": 0,
        "epochs": 3,
    }
    spec.update(overrides)
    return spec
