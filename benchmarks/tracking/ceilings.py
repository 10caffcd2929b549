"""How far a tracking server could beat MLflow on this machine, for the figures a floor bounds.

Three of the benchmark's figures cannot fall below something that is not the server's own work, measured here
after the servers have stopped (`benchmarks/server_floor.py` measures and explains each floor):

- liveness: a bare uvloop socket that answers fixed bytes without reading the request, timed through the
  benchmark's own client. A Python server on uvloop does at least that much per request, so MLflow's liveness
  divided by it is the largest ratio any such server could show (a server written in C could go lower).
- the serving process's memory: Python with FastAPI and pydantic imported, which no FastAPI server can shed.
- on PostgreSQL, a point per request: that socket's round trip plus one insert sent as a single autocommitted
  statement with synchronous commit, which a write acknowledged only once it is stored waits for.

Each row states the floor, MLflow's figure and their quotient: a target above that quotient is out of reach for
such a server on this machine, whatever its code.

Those floors are timed after the servers, minutes after the figures they bound. In a paired run the bare socket is
also up beside both servers (`socket_beside`) and timed in each of a server's liveness parts, in a block beside
the server's own (`Runner.floor`): `paired_socket_lines` reports each server's liveness over the socket from those
parts, free of the machine's drift between the two.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from benchmarks import server_floor
from benchmarks.tracking import procstats, report
from benchmarks.tracking.pairing import median_interval
from benchmarks.tracking.runner import SOCKET_FIGURE, Result
from benchmarks.tracking.servers import ServerFailed


@dataclass(frozen=True)
class Floors:
    socket_ms: float  # p50 round trip to the bare socket, through the benchmark's client
    fastapi_mib: float  # resident size of Python with FastAPI and pydantic imported
    # PostgreSQL: median autocommitted insert with synchronous commit; None: not timed
    write_ms: float | None = None
    outside_cores: float | None = None  # cores other processes kept busy just before (None: unknown)


def measure(client: str, postgres_url: str | None, requests: int = 2000) -> Floors:
    """The floors on this machine now, the round trip through the client named `client`
    (`benchmarks.tracking.plain_http.CLIENTS`); the insert only with a PostgreSQL admin URL."""
    outside = procstats.quiet_probe()
    return Floors(
        socket_ms=server_floor.socket_floor(requests, client),
        fastapi_mib=server_floor.layer_sizes()[server_floor.FASTAPI_LAYER],
        write_ms=server_floor.durable_insert(postgres_url) if postgres_url else None,
        outside_cores=outside,
    )


def table(mlflow: Result, floors: Floors, backend: str) -> list[str]:
    """Rows for the figures of `mlflow`'s result that a floor bounds; empty when it has none of them."""
    theirs = report.derived(mlflow)
    socket = f"bare socket answering fixed bytes {report.number(floors.socket_ms)}"
    body = []
    if theirs.get("health_p50_ms"):
        body.append(
            _row("cheapest request (liveness), p50 ms", theirs["health_p50_ms"], floors.socket_ms, socket)
        )
    if theirs.get("rss_serving_mib"):
        body.append(
            _row(
                "server RSS, serving process, MiB",
                theirs["rss_serving_mib"],
                floors.fastapi_mib,
                "Python with FastAPI and pydantic imported",
            )
        )
    if backend == "postgresql" and floors.write_ms is not None and theirs.get("single_points_per_s"):
        body.append(
            _row(
                "one point per request, ms per request",
                1000 / theirs["single_points_per_s"],
                floors.socket_ms + floors.write_ms,
                f"{socket} + one durable insert {report.number(floors.write_ms)}",
            )
        )
    if not body:
        return []
    return report.table(["figure", "MLflow", "floor on this machine", "best ratio the floor allows"], body)


def _row(label: str, mlflow: float, floor: float, what: str) -> list[str]:
    return [label, report.number(mlflow), f"{report.number(floor)} ({what})", report.ratio(mlflow / floor)]


@dataclass(frozen=True)
class SocketBeside:
    """The bare socket running beside a paired run's servers; `procstats.Measured`, so that the meters count its
    CPU as a partner's rather than as load from outside."""

    port: int
    pid: int

    def tree_pids(self) -> list[int]:
        return [self.pid]

    def pids(self) -> list[int]:
        return [self.pid]

    def serving_pid(self) -> int | None:
        return self.pid


@contextmanager
def socket_beside() -> Iterator[SocketBeside]:
    with server_floor.floor_server("socket") as (port, pid):
        yield SocketBeside(port, pid)


def socket_caller(socket: SocketBeside, client: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """A GET to the socket through its own connection of the benchmark's client, its answer checked; and a close."""
    get, close = server_floor.client_get(client, socket.port)

    def call() -> None:
        if get() != server_floor.FLOOR_BODY:  # the benchmark's own set-up failed, not a server under test
            raise ServerFailed("the bare socket answered something else")

    return call, close


def paired_socket_lines(results: list[Result]) -> list[str]:
    """For each result with liveness and the socket timed in the same parts: the median over parts of liveness
    over the socket, with its sign-test interval. Empty when no result has them."""
    found, counts = [], set()
    for result in results:
        live, floor = result.parts.get("health_p50_ms"), result.parts.get(SOCKET_FIGURE)
        if not live or not floor or len(live) != len(floor):
            continue
        quotients = [a / b for a, b in zip(live, floor, strict=True)]
        counts.add(len(quotients))
        interval = median_interval(quotients)
        span = f"{interval[0]:.2f}-{interval[1]:.2f}×" if interval else "no interval"
        median = math.exp(statistics.median(math.log(q) for q in quotients))  # as `pairing.paired_ratio`
        socket_ms, live_ms = (report.number(result.figures[f]) for f in (SOCKET_FIGURE, "health_p50_ms"))
        found.append(f"{result.product} {median:.2f}× ({span}; socket {socket_ms} ms, liveness {live_ms} ms)")
    if not found:
        return []
    parts = "/".join(map(str, sorted(counts)))
    return [
        f"Liveness over the bare socket timed beside it in the same parts (median over {parts} parts, 95 % "
        f"interval): {'; '.join(found)}. MLflow's quotient is the best ratio a server that answers at least as "
        "slowly as the socket could show against it here."
    ]
