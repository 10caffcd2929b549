"""How far any tracking server could beat MLflow on this machine, for the figures a floor bounds.

Three of the benchmark's figures cannot fall below something that is not the server's own work, measured here
after the servers have stopped (`benchmarks/server_floor.py` measures and explains each floor):

- liveness: a bare uvloop socket that answers fixed bytes without parsing the request, through the benchmark's
  own client. No HTTP server answers faster, so MLflow's liveness divided by it is the largest ratio any server
  could show.
- the serving process's memory: Python with FastAPI and pydantic imported, which a FastAPI server cannot shed.
- on PostgreSQL, a point per request: the do-nothing HTTP round trip plus one insert and its synchronous commit,
  which a write that is acknowledged only once durable waits for.

The table states the floor, MLflow's figure and their quotient: a target above that quotient is out of reach for
any server on this machine, whatever its code.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks import server_floor
from benchmarks.tracking import report
from benchmarks.tracking.runner import Result

FASTAPI_LAYER = "+ FastAPI, pydantic"


@dataclass(frozen=True)
class Floors:
    socket_ms: float  # bare socket answering fixed bytes, the benchmark's client
    http_ms: float  # do-nothing uvicorn app, the same client
    fastapi_mib: float  # resident size of Python with FastAPI and pydantic imported
    commit_ms: float | None = None  # PostgreSQL insert + synchronous commit; None: not measured


def measure(postgres_url: str | None, requests: int = 2000) -> Floors:
    """The floors on this machine now; the commit only with a PostgreSQL admin URL."""
    layers = server_floor.layer_sizes()
    commit = server_floor.commit_cost(postgres_url)["on"] if postgres_url else None
    return Floors(
        socket_ms=server_floor.socket_floor(requests),
        http_ms=server_floor.http_floor(requests),
        fastapi_mib=layers[FASTAPI_LAYER],
        commit_ms=commit,
    )


def table(mlflow: Result, floors: Floors, backend: str) -> list[str]:
    """Rows for the figures of `mlflow`'s result that a floor bounds; empty when it has none of them."""
    theirs = report.derived(mlflow)
    body = []
    if "health_p50_ms" in theirs:
        body.append(
            _row(
                "cheapest request (liveness), p50 ms",
                theirs["health_p50_ms"],
                floors.socket_ms,
                "bare socket answering fixed bytes",
            )
        )
    if "rss_serving_mib" in theirs:
        body.append(
            _row(
                "server RSS, serving process, MiB",
                theirs["rss_serving_mib"],
                floors.fastapi_mib,
                "Python with FastAPI and pydantic imported",
            )
        )
    if backend == "postgresql" and floors.commit_ms is not None and theirs.get("single_points_per_s"):
        body.append(
            _row(
                "one point per request, ms per request",
                1000 / theirs["single_points_per_s"],
                floors.http_ms + floors.commit_ms,
                f"do-nothing HTTP round trip {report.number(floors.http_ms)} + insert and commit "
                f"{report.number(floors.commit_ms)}",
            )
        )
    if not body:
        return []
    return report.table(
        ["figure", "MLflow", "floor on this machine", "best ratio any server could show"], body
    )


def _row(label: str, mlflow: float, floor: float, what: str) -> list[str]:
    return [label, report.number(mlflow), f"{report.number(floor)} ({what})", report.ratio(mlflow / floor)]
