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
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks import server_floor
from benchmarks.tracking import procstats, report
from benchmarks.tracking.runner import Result


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
