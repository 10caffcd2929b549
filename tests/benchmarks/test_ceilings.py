"""The best ratios the floors allow: which figures a floor bounds, and the quotient each row states."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from benchmarks.tracking import ceilings
from benchmarks.tracking.runner import Result

FLOORS = ceilings.Floors(socket_ms=0.1, fastapi_mib=40.0, write_ms=0.3)


def _mlflow(**figures: float) -> Result:
    result = Result("MLflow", "postgresql", figures)
    result.meter = SimpleNamespace(rss_peak=(280 * 2**20, 2_300 * 2**20))  # type: ignore[assignment]
    return result


def _rows(lines: list[str]) -> dict[str, list[str]]:
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    return {row[0]: row[1:] for row in cells}


def test_each_bounded_figure_states_its_floor_and_the_quotient() -> None:
    rows = _rows(ceilings.table(_mlflow(health_p50_ms=0.5, single_points_per_s=250.0), FLOORS, "postgresql"))
    assert rows["cheapest request (liveness), p50 ms"][0] == "0.50"
    assert rows["cheapest request (liveness), p50 ms"][2] == "5.0×"  # 0.5 / 0.1
    assert rows["server RSS, serving process, MiB"][2] == "7.0×"  # 280 / 40
    one_point = rows["one point per request, ms per request"]
    assert (
        one_point[0] == "4.0" and one_point[1].startswith("0.40 (") and one_point[2] == "10×"
    )  # 4 / (0.1 + 0.3)


def test_the_one_point_floor_is_postgresql_only() -> None:
    rows = _rows(ceilings.table(_mlflow(health_p50_ms=0.5, single_points_per_s=250.0), FLOORS, "sqlite"))
    assert "one point per request, ms per request" not in rows and len(rows) == 2
    untimed = ceilings.Floors(socket_ms=0.1, fastapi_mib=40.0)
    rows = _rows(ceilings.table(_mlflow(single_points_per_s=250.0), untimed, "postgresql"))
    assert "one point per request, ms per request" not in rows


def test_figures_not_measured_get_no_row() -> None:
    assert ceilings.table(Result("MLflow", "sqlite", {"runs_per_s": 30.0}), FLOORS, "sqlite") == []
    unsampled = _mlflow()
    unsampled.meter = SimpleNamespace(rss_peak=(0, 2_300 * 2**20))  # type: ignore[assignment]
    assert ceilings.table(unsampled, FLOORS, "sqlite") == []  # a serving process never found: no 0.00 row


@pytest.mark.timeout(120)
def test_the_floors_are_measured_on_this_machine(postgres_url: str) -> None:
    floors = ceilings.measure("plain", postgres_url.replace("postgresql+psycopg://", "postgresql://"), 20)
    assert 0 < floors.socket_ms and floors.write_ms is not None and floors.write_ms > 0
    assert floors.fastapi_mib > 20  # the interpreter alone is about 13 MiB; FastAPI and pydantic add more


def _live_and_socket(product: str, live: list[float], socket: list[float]) -> Result:
    result = Result(product, "sqlite", {"health_p50_ms": 1.0, "socket_p50_ms": 0.25})
    result.parts = {"health_p50_ms": live, "socket_p50_ms": socket}
    return result


def test_liveness_over_the_socket_beside_it_is_taken_part_by_part() -> None:
    # Part by part MLflow is 2, 3, ..., 9 times the socket: the median, on logarithms, √30 ≈ 5.48×; with 8 parts the
    # sign test's interval is the 1st smallest and largest. Its overall figures would say 4×, not what is reported.
    mlflow = _live_and_socket("MLflow", [2.0 * k for k in range(2, 10)], [2.0] * 8)
    ours = _live_and_socket("XCL Lab", [1.1] * 8, [1.0] * 8)
    (line,) = ceilings.paired_socket_lines([mlflow, ours, Result("no liveness", "sqlite")])
    assert "(median over 8 parts, 95 % interval)" in line
    assert "MLflow 5.48× (2.00-9.00×; socket 0.25 ms, liveness 1.0 ms)" in line  # on logarithms: √(5·6)
    assert "XCL Lab 1.10× (1.10-1.10×;" in line and "no liveness" not in line


def test_no_socket_beside_gives_no_line() -> None:
    assert ceilings.paired_socket_lines([_mlflow(health_p50_ms=0.5)]) == []
