"""The server-floor benchmark runs (its figures are printed, never asserted: timings stay out of the tests)."""

from __future__ import annotations

import os

import psycopg
import pytest

from benchmarks import server_floor


def test_the_http_floor_is_measured_against_a_real_server() -> None:
    assert server_floor.http_floor(20) > 0


def test_the_socket_floor_answers_through_the_same_client() -> None:
    assert server_floor.socket_floor(20) > 0  # the client checks each answer's body


@pytest.mark.parametrize("client", ["plain", "httpx"])
def test_the_floors_can_be_timed_through_the_benchmark_clients(client: str) -> None:
    assert server_floor.socket_floor(20, client) > 0 and server_floor.http_floor(20, client) > 0


def test_a_floor_server_runs_only_while_it_is_held() -> None:
    with server_floor.floor_server("socket") as (port, pid):
        get, close = server_floor.client_get("plain", port)
        try:
            assert get() == server_floor.FLOOR_BODY
        finally:
            close()
        assert os.path.exists(f"/proc/{pid}")
    assert not os.path.exists(f"/proc/{pid}")  # stopped and reaped


def test_every_import_layer_is_reported() -> None:
    lines = server_floor.memory_layers().splitlines()
    assert [line.split(":")[0] for line in lines][0] == "Python alone"
    assert lines[-1].startswith("+ the app's modules") and len(lines) == 7


def test_the_layer_sizes_grow_as_layers_are_imported() -> None:
    sizes = server_floor.layer_sizes()
    assert list(sizes)[:2] == ["Python alone", server_floor.FASTAPI_LAYER] and len(sizes) == 7
    assert sizes[server_floor.FASTAPI_LAYER] > sizes["Python alone"] > 0


def test_the_commit_cost_is_timed_on_a_table_of_its_own(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    costs = server_floor.commit_cost(url, repeats=5)
    assert set(costs) == {"on", "off"} and all(c > 0 for c in costs.values())
    with psycopg.connect(url) as connection:  # the probe table is dropped afterwards
        left = connection.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'floor_probe_%'")
        assert left.fetchone() == (0,)


def test_the_durable_insert_is_timed_on_a_table_of_its_own(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    assert server_floor.durable_insert(url, repeats=5) > 0
    with psycopg.connect(url) as connection:
        left = connection.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'floor_insert_%'")
        assert left.fetchone() == (0,)


def test_the_batch_cost_is_timed_with_each_check_of_the_run(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    costs = server_floor.batch_cost(url, repeats=2)
    assert set(costs) == {"with foreign key", "as migrated", "without"} and all(c > 0 for c in costs.values())
    with psycopg.connect(url) as connection:  # its tables and its migrated database are dropped afterwards
        left = connection.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'floor_%'")
        assert left.fetchone() == (0,)
        databases = connection.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'xclab_floor_%'")
        assert databases.fetchone() == (0,)
