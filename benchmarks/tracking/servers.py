"""Both servers as real subprocesses on free loopback ports, each on a fresh SQLite file or PostgreSQL
database, stopped (with their whole process group) and their database dropped afterwards."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from benchmarks.tracking import procstats

REPO = Path(__file__).resolve().parents[2]
BACKEND_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
START_TIMEOUT_S = 180  # MLflow migrates a fresh PostgreSQL database on its first start


class ServerFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_module(repo: Path = REPO) -> str:
    """The module behind `python -m` for a checkout's command line (it may move from xclab to a cli package)."""
    return "cli" if (repo / "cli" / "__main__.py").exists() else "xclab"


class Postgres:
    """Creates and drops the benchmark's databases through the admin URL (trust auth on loopback)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def _connect(self):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5)

    def version(self) -> str:
        with self._connect() as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])

    def url(self, database: str, scheme: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit((scheme, parts.netloc, f"/{database}", parts.query, ""))

    @contextmanager
    def database(self, prefix: str) -> Iterator[str]:
        from psycopg import sql

        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with self._connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield name
        finally:
            with self._connect() as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class Server:
    product: str  # "MLflow" or "XCL Lab"
    backend: str  # "sqlite" or "postgresql"
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    token: str | None = None
    database: str | None = None  # PostgreSQL database name, to find the backends serving it

    def tree_pids(self) -> list[int]:
        return procstats.tree(self.proc.pid)

    def pids(self) -> list[int]:
        pids = self.tree_pids()
        if self.database:  # PostgreSQL titles its backends "postgres: <user> <database> <client> <state>"
            pids += procstats.pids_with_cmdline(f" {self.database} ")
        return pids

    def serving_pid(self) -> int | None:
        return procstats.listening_pid(self.port, self.tree_pids())

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:  # children that outlived their parent (job runners) share its process group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _start(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_healthy(server: Server, health_path: str) -> Server:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            break
        try:
            if httpx.get(server.url + health_path, timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise ServerFailed(f"{server.product} ({server.backend}) did not start:\n{server.tail()}")


def start_xclab(
    python: str,
    workdir: Path,
    backend: str,
    database_url: str | None,
    database: str | None,
    repo: Path = REPO,
) -> Server:
    """`<cli> db upgrade`, then `<cli> serve` on a free port with a random admin token; no URL: SQLite. `repo`: the
    checkout whose code serves (another one's, for an A/B of two versions)."""
    home = workdir / f"xclab-{backend}"
    home.mkdir(parents=True)
    database_url = database_url or f"sqlite:///{home / 'xclab.db'}"
    port, token, module = free_port(), secrets.token_hex(16), cli_module(repo)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XCL_")}
    env.update(
        XCL_HOME=str(home),
        XCL_DATABASE_URL=database_url,
        XCL_API_TOKEN=token,
        XCL_API_URL=f"http://127.0.0.1:{port}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH")])),
    )
    done = subprocess.run(
        [python, "-m", module, "db", "upgrade"], env=env, cwd=repo, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise ServerFailed(f"XCL Lab migration failed:\n{done.stdout}\n{done.stderr}")
    proc = _start(
        [python, "-m", module, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env,
        repo,
        home / "api.log",
    )
    server = Server(
        "XCL Lab", backend, f"http://127.0.0.1:{port}", port, proc, home / "api.log", token, database
    )
    return _wait_healthy(server, "/api/v1/health")


def start_mlflow(
    python: str, workdir: Path, backend: str, store_uri: str | None, database: str | None, workers: int
) -> Server:
    """`mlflow server` (its default uvicorn), `workers` workers, artifacts in the work folder; no URI: SQLite."""
    home = workdir / f"mlflow-{backend}"
    home.mkdir(parents=True)
    store_uri = store_uri or f"sqlite:///{home / 'mlflow.db'}"
    port = free_port()
    cmd = [
        python, "-m", "mlflow", "server",
        "--backend-store-uri", store_uri,
        "--default-artifact-root", (home / "artifacts").as_uri(),
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    proc = _start(cmd, dict(os.environ), home, home / "server.log")
    server = Server(
        "MLflow", backend, f"http://127.0.0.1:{port}", port, proc, home / "server.log", None, database
    )
    return _wait_healthy(server, "/health")
