"""What no tracking server in Python can go below on this machine: the figures behind the 10× targets that stay out
of reach in docs/performance.md.

1. The HTTP floor: a do-nothing ASGI app under uvicorn as `xclab serve` runs it (uvloop, httptools), answering a
   fixed 2-byte body, timed through the tracking benchmark's client (one keep-alive `http.client` connection);
   and below any HTTP server, a bare uvloop socket protocol that answers every read with the same fixed bytes
   (no parsing at all) through the same client.
2. The memory floor: the resident size of a fresh interpreter as the serving process's layers are imported one
   after another (FastAPI and pydantic, SQLAlchemy, psycopg, Celery's client and redis, uvicorn, the app).
3. With `--postgres-url`: one insert and its commit, with `synchronous_commit` on (the WAL flush a durable write
   waits for) and off, each as a transaction of the driver's (BEGIN, INSERT, COMMIT); one insert sent as a single
   autocommitted statement (one round trip, the least a durable write costs); and the database's own time for a
   1,000-point batch upserted as XCL Lab's metric write does it: into a table keyed and constrained like `metric`
   before migration 0013 (a foreign key, checked per row), into `metric` itself as migrated (its run checked once
   per statement), and into a table without either.

    .venv/bin/python benchmarks/server_floor.py [--requests 2000] [--postgres-url postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})
"""

SOCKET_SERVER = """
import asyncio, sys, uvloop
ANSWER = b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: 2\\r\\n\\r\\n{}"
class Fixed(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
    def data_received(self, data):
        self.transport.write(ANSWER)
async def main():
    server = await asyncio.get_running_loop().create_server(Fixed, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
uvloop.run(main())
"""

FLOOR_BODY = b"{}"  # what both floor servers answer
FASTAPI_LAYER = "+ FastAPI, pydantic"
# Resident size read from /proc, so that the probe imports nothing a server would not.
LAYERS = """
import os, sys
os.environ.setdefault("XCL_API_TOKEN", "x" * 32)
def rss():
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kib / 1024
print(f"Python alone: {rss():.1f}")
import fastapi, pydantic, starlette
print(f"+ FastAPI, pydantic: {rss():.1f}")
import sqlalchemy, sqlalchemy.orm
print(f"+ SQLAlchemy: {rss():.1f}")
import psycopg
print(f"+ psycopg: {rss():.1f}")
import celery, kombu, redis
print(f"+ Celery's client, redis: {rss():.1f}")
import uvicorn, uvloop, httptools
print(f"+ uvicorn, uvloop, httptools: {rss():.1f}")
from backend.app import create_app
print(f"+ the app's modules (backend.app): {rss():.1f}")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_floor(requests: int, client: str | None = None) -> float:
    """p50 ms of GET round trips to the do-nothing app (`client`: as in `_round_trips`)."""
    with floor_server("http") as (port, _):
        return _round_trips(port, requests, client)


def socket_floor(requests: int, client: str | None = None) -> float:
    """p50 ms of GET round trips to a socket protocol that answers without reading the request."""
    with floor_server("socket") as (port, _):
        return _round_trips(port, requests, client)


@contextmanager
def floor_server(kind: str) -> Iterator[tuple[int, int]]:
    """The do-nothing app (`http`) or the bare socket (`socket`) as a subprocess on a free loopback port: its port
    and process id, yielded once it accepts connections; stopped on leaving."""
    with tempfile.TemporaryDirectory(prefix="floor-") as name:
        yield from _serving(kind, Path(name))


def _serving(kind: str, folder: Path) -> Iterator[tuple[int, int]]:
    port = _free_port()
    if kind == "http":
        (folder / "floor_app.py").write_text(APP)
        cmd = [sys.executable, "-m", "uvicorn", "floor_app:app", "--port", str(port), "--loop", "uvloop",
               "--http", "httptools", "--log-level", "warning", "--no-access-log"]  # fmt: skip
    else:
        (folder / "fixed_answer.py").write_text(SOCKET_SERVER)
        cmd = [sys.executable, "fixed_answer.py", str(port)]
    server = subprocess.Popen(cmd, cwd=folder)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield port, server.pid
    finally:
        server.terminate()
        server.wait(10)


def _round_trips(port: int, requests: int, client: str | None) -> float:
    """p50 ms of GETs after a warm-up: through a bare `http.client` connection, or through the tracking
    benchmark's client of that name (`benchmarks.tracking.plain_http.CLIENTS`), whose own time then counts too."""
    get, close = _bare_get(port) if client is None else client_get(client, port)
    times = []
    try:
        for i in range(requests + 200):
            t0 = time.perf_counter()
            if get() != FLOOR_BODY:
                raise SystemExit("the floor server answered something else")
            if i >= 200:  # warm-up
                times.append(time.perf_counter() - t0)
    finally:
        close()
    return statistics.median(times) * 1e3


# A GET of the floor server's answer body, and how to close its connection.
Getter = tuple[Callable[[], bytes], Callable[[], None]]


def _bare_get(port: int) -> Getter:
    connection = http.client.HTTPConnection("127.0.0.1", port)

    def get() -> bytes:
        connection.request("GET", "/health")
        return connection.getresponse().read()

    return get, connection.close


def client_get(name: str, port: int) -> Getter:
    from benchmarks.tracking.plain_http import CLIENTS

    client = CLIENTS[name](f"http://127.0.0.1:{port}", None, 30.0)
    return lambda: client.get("/health").content, client.close


def memory_layers() -> str:
    repo = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run([sys.executable, "-c", LAYERS], env=env, capture_output=True, text=True, check=True)
    return done.stdout


def layer_sizes() -> dict[str, float]:
    """`memory_layers`' figures by layer: MiB resident once that layer is imported."""
    sizes = {}
    for line in memory_layers().splitlines():
        label, _, mib = line.rpartition(":")
        sizes[label] = float(mib)
    return sizes


def durable_insert(url: str, repeats: int = 500) -> float:
    """Median ms of one insert in its own transaction, committed durably (synchronous commit), sent as one
    autocommitted statement: one round trip and the WAL flush that any write acknowledged as stored waits for."""
    import psycopg

    table = f"floor_insert_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SET synchronous_commit = on")
        connection.execute(f"CREATE TABLE {table} (x int)")
        try:
            times = []
            for i in range(repeats + 50):
                t0 = time.perf_counter()
                connection.execute(f"INSERT INTO {table} VALUES (%s)", (i,))
                if i >= 50:  # warm-up (and the driver's preparing)
                    times.append(time.perf_counter() - t0)
        finally:
            connection.execute(f"DROP TABLE {table}")
    return statistics.median(times) * 1e3


def commit_cost(url: str, repeats: int = 500) -> dict[str, float]:
    import psycopg

    costs = {}
    table = f"floor_probe_{os.getpid()}"  # a logged table: a temporary one writes no WAL, so flushes none
    with psycopg.connect(url) as connection:
        connection.execute(f"CREATE TABLE {table} (x int)")
        connection.commit()
        try:
            for level in ("on", "off"):
                connection.execute(f"SET synchronous_commit = {level}")
                connection.commit()
                t0 = time.perf_counter()
                for i in range(repeats):
                    connection.execute(f"INSERT INTO {table} VALUES (%s)", (i,))
                    connection.commit()
                costs[level] = (time.perf_counter() - t0) / repeats * 1e3
        finally:
            connection.rollback()
            connection.execute(f"DROP TABLE {table}")
            connection.commit()
    return costs


# A batch of 1,000 new points for one run, shipped as XCL Lab's PostgreSQL write ships it (one JSON text).
_BATCH_UPSERT = """
INSERT INTO {table} (run_id, key, step, value, wall_time)
SELECT 1, u.k, u.s, u.v, u.w
FROM json_to_record(%s::json) AS p(k text[], s bigint[], v float8[], w float8[]),
    unnest(p.k, p.s, p.v, p.w) AS u(k, s, v, w)
ON CONFLICT (run_id, key, step) DO UPDATE SET value = excluded.value, wall_time = excluded.wall_time
"""


def batch_cost(url: str, repeats: int = 30) -> dict[str, float]:
    """Median ms the database takes to upsert (and commit) a new 1,000-point batch: into a table keyed and
    constrained like `metric` was before migration 0013 ("with foreign key"), into XCL Lab's own `metric` table in a
    database migrated to the head (its run checked once per statement, "as migrated"), and into a table without any
    check of the run ("without")."""
    import json

    import psycopg

    suffix = os.getpid()
    parent, keyed, bare = f"floor_run_{suffix}", f"floor_fk_{suffix}", f"floor_nofk_{suffix}"
    columns = "run_id int NOT NULL, key varchar(250) NOT NULL, step bigint NOT NULL, value float8 NOT NULL, " \
        "wall_time float8 NOT NULL, PRIMARY KEY (run_id, key, step)"  # fmt: skip
    with psycopg.connect(url, autocommit=True) as connection, _migrated(url) as migrated:
        targets = {
            "with foreign key": (connection, keyed),
            "as migrated": (migrated, "metric"),
            "without": (connection, bare),
        }
        costs: dict[str, list[float]] = {name: [] for name in targets}
        try:
            connection.execute(f"CREATE TABLE {parent} (id int PRIMARY KEY)")
            connection.execute(f"INSERT INTO {parent} VALUES (1)")
            connection.execute(
                f"CREATE TABLE {keyed} ({columns}, "
                f"FOREIGN KEY (run_id) REFERENCES {parent} (id) ON DELETE CASCADE)"
            )
            connection.execute(f"CREATE TABLE {bare} ({columns})")
            for batch in range(repeats + 3):  # the first three warm up (and let the driver prepare)
                keys = ("val_top1", "val_loss", "train_top1", "train_loss", "lr")
                points = {
                    "k": [key for _ in range(200) for key in keys],
                    "s": [batch * 200 + i for i in range(200) for _ in keys],
                    "v": [0.5 + i / 997 for i in range(200) for _ in keys],
                    "w": [1.7e9 + i / 7 for i in range(200) for _ in keys],
                }
                body = json.dumps(points)
                for name, (target, table) in targets.items():
                    t0 = time.perf_counter()
                    target.execute(_BATCH_UPSERT.format(table=table), (body,))
                    if batch >= 3:
                        costs[name].append((time.perf_counter() - t0) * 1e3)
        finally:
            for table in (keyed, bare, parent):
                connection.execute(f"DROP TABLE IF EXISTS {table}")
    return {name: statistics.median(times) for name, times in costs.items()}


@contextmanager
def _migrated(url: str) -> Iterator[Any]:
    """An autocommit connection to a new database migrated to XCL Lab's head, holding run 1; dropped afterwards."""
    import psycopg
    from sqlalchemy import insert

    from backend.db import make_engine, upgrade
    from backend.models import Experiment, Run
    from benchmarks.tracking.servers import Postgres

    admin = Postgres(url)
    with admin.database("xclab_floor") as database:
        engine_url = admin.url(database, "postgresql+psycopg")
        upgrade(engine_url)
        engine = make_engine(engine_url)
        with engine.begin() as conn:
            conn.execute(insert(Experiment.__table__), {"id": 1, "name": "floor"})
            run = {
                "id": 1,
                "experiment_id": 1,
                "spec": {},
                "hparams": {},
                "task": "cifar100",
                "method": "erm",
            }
            conn.execute(
                insert(Run.__table__), run | {"model": "resnet18", "status": "running", "queue": "cpu"}
            )
        engine.dispose()
        with psycopg.connect(admin.url(database, "postgresql"), autocommit=True) as connection:
            yield connection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--postgres-url", help="also time an insert and commit on this PostgreSQL database")
    args = parser.parse_args()
    print(f"do-nothing uvicorn app (uvloop, httptools), http.client, p50 of {args.requests} GETs: "
          f"{http_floor(args.requests):.3f} ms")  # fmt: skip
    print(f"bare uvloop socket answering fixed bytes (no HTTP parsing), same client: "
          f"{socket_floor(args.requests):.3f} ms")  # fmt: skip
    print("serving process's resident size as its layers are imported, MiB:")
    print("".join(f"  {line}\n" for line in memory_layers().splitlines()), end="")
    if args.postgres_url:
        costs = commit_cost(args.postgres_url)
        print(
            f"PostgreSQL insert + commit: synchronous_commit on {costs['on']:.3f} ms, off {costs['off']:.3f} ms"
        )
        print(
            "PostgreSQL insert sent as one autocommitted statement, synchronous commit, median: "
            f"{durable_insert(args.postgres_url):.3f} ms"
        )
        batch = batch_cost(args.postgres_url)
        print(
            "PostgreSQL upsert + commit of a new 1,000-point batch, median: "
            + ", ".join(f"{name} {ms:.2f} ms" for name, ms in batch.items())
        )


if __name__ == "__main__":
    main()
