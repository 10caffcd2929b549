"""One adapter per tracker: the workload's operations as that tracker's plain HTTP requests.

Each adapter owns one keep-alive HTTP client (`plain_http`) and checks every answer's status and shape; the runner
checks the content against the workload. XCL Lab creates a tracking run with its params in one request and
searches with `param=key:value`, as a training script logging to it would."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from benchmarks.tracking.plain_http import CLIENTS, Reply
from benchmarks.tracking.servers import Server
from benchmarks.tracking.workload import Point

PAGE = 1000


class CheckFailed(AssertionError):
    """A server answered something other than what the workload implies."""


def _expect(response: Reply, *codes: int) -> Any:
    if response.status_code not in codes:
        raise CheckFailed(
            f"{response.method} {response.path} answered {response.status_code}: {response.text[:500]}"
        )
    return response.json() if response.content else None


class Tracker(ABC):
    product: str

    def __init__(
        self, server: Server, base_path: str, headers: dict[str, str] | None = None, client: str = "plain"
    ) -> None:
        self.server = server
        self.http = CLIENTS[client](server.url + base_path, headers, 600)

    def close(self) -> None:
        self.http.close()

    @abstractmethod
    def health(self) -> None: ...

    @abstractmethod
    def create_experiment(self, name: str) -> str: ...

    @abstractmethod
    def create_run(self, experiment_id: str, params: dict[str, str]) -> str:
        """A run carrying these params; returns its id."""

    @abstractmethod
    def log_points(self, run_id: str, points: Sequence[Point]) -> None:
        """One request."""

    @abstractmethod
    def log_point(self, run_id: str, point: Point) -> None:
        """One request for one point, the tracker's natural single-point call."""

    @abstractmethod
    def search_top(self, experiment_id: str, param: tuple[str, str], metric: str, k: int) -> list[str]:
        """Ids of the first k runs with the param, by the metric's latest value, descending."""

    @abstractmethod
    def run_ids(self, experiment_id: str) -> list[str]:
        """Every run of the experiment, paging as needed."""

    @abstractmethod
    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """A metric's full history as (step, value), ordered by step."""


class XclLab(Tracker):
    product = "XCL Lab"

    def __init__(self, server: Server, client: str = "plain") -> None:
        super().__init__(server, "/api/v1", {"Authorization": f"Bearer {server.token}"}, client)

    def health(self) -> None:
        # Liveness, as MLflow's /health: the readiness check (/health/ready) also asks the database and broker.
        if _expect(self.http.get("/health/live"), 200)["status"] != "ok":
            raise CheckFailed("XCL Lab liveness is not ok")

    def create_experiment(self, name: str) -> str:
        return str(_expect(self.http.post("/experiments", json={"name": name}), 200, 201)["id"])

    def create_run(self, experiment_id: str, params: dict[str, str]) -> str:
        # One request: a tracking run (no spec, no worker) with its params, as `xclab.track.start_run` sends.
        body = {"experiment_id": int(experiment_id), "params": params}
        run = _expect(self.http.post("/runs", json=body), 202)
        if run["params"] != params or run["kind"] != "tracking":
            raise CheckFailed(f"run {run['id']} stored params {run['params']}, sent {params}")
        return str(run["id"])

    def _post_points(self, run_id: str, points: Sequence[Point]) -> None:
        body = {
            "metrics": [
                {"key": p.key, "step": p.step, "value": p.value, "wall_time": p.timestamp_ms / 1000}
                for p in points
            ]
        }
        written = _expect(self.http.post(f"/runs/{run_id}/metrics", json=body), 200)["written"]
        if written != len(points):
            raise CheckFailed(f"run {run_id}: {written} points written of {len(points)}")

    def log_points(self, run_id: str, points: Sequence[Point]) -> None:
        self._post_points(run_id, points)

    def log_point(self, run_id: str, point: Point) -> None:
        self._post_points(run_id, [point])

    def search_top(self, experiment_id: str, param: tuple[str, str], metric: str, k: int) -> list[str]:
        params = {
            "experiment_id": experiment_id,
            "param": f"{param[0]}:{param[1]}",
            "sort": f"-metric:{metric}",
            "limit": k,
        }
        return [str(run["id"]) for run in _expect(self.http.get("/runs", params=params), 200)["data"]]

    def run_ids(self, experiment_id: str) -> list[str]:
        ids: list[str] = []
        params: dict[str, Any] = {"experiment_id": experiment_id, "sort": "id", "limit": PAGE}
        while True:
            page = _expect(self.http.get("/runs", params=params), 200)
            ids += [str(run["id"]) for run in page["data"]]
            if not page["next_page_token"]:
                return ids
            params["page_token"] = page["next_page_token"]

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        points = _expect(self.http.get(f"/runs/{run_id}/metrics/{key}"), 200)["points"]
        return [(p["step"], p["value"]) for p in points]


class Mlflow(Tracker):
    """MLflow's REST API 2.0. The history is `metrics/get-history` without max_results: MLflow's full,
    unpaged history (the UI's get-history-bulk-interval downsamples, so it is not the same answer)."""

    product = "MLflow"

    def __init__(self, server: Server, client: str = "plain") -> None:
        super().__init__(server, "/api/2.0/mlflow", client=client)

    def health(self) -> None:
        response = self.http.get(self.server.url + "/health")
        if response.status_code != 200 or response.text.strip() != "OK":
            raise CheckFailed(f"MLflow /health answered {response.status_code}: {response.text[:200]}")

    def create_experiment(self, name: str) -> str:
        return _expect(self.http.post("/experiments/create", json={"name": name}), 200)["experiment_id"]

    def create_run(self, experiment_id: str, params: dict[str, str]) -> str:
        # runs/create takes no params: a second request logs them, as mlflow.log_params does.
        body = {"experiment_id": experiment_id, "start_time": 1_700_000_000_000}
        run_id = _expect(self.http.post("/runs/create", json=body), 200)["run"]["info"]["run_id"]
        batch = {"run_id": run_id, "params": [{"key": k, "value": v} for k, v in params.items()]}
        _expect(self.http.post("/runs/log-batch", json=batch), 200)
        return run_id

    @staticmethod
    def _metric(p: Point) -> dict[str, Any]:
        return {"key": p.key, "value": p.value, "timestamp": p.timestamp_ms, "step": p.step}

    def log_points(self, run_id: str, points: Sequence[Point]) -> None:
        body = {"run_id": run_id, "metrics": [self._metric(p) for p in points]}
        _expect(self.http.post("/runs/log-batch", json=body), 200)

    def log_point(self, run_id: str, point: Point) -> None:
        _expect(self.http.post("/runs/log-metric", json={"run_id": run_id, **self._metric(point)}), 200)

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        return _expect(self.http.post("/runs/search", json=body), 200)

    def search_top(self, experiment_id: str, param: tuple[str, str], metric: str, k: int) -> list[str]:
        body = {
            "experiment_ids": [experiment_id],
            "filter": f"params.{param[0]} = '{param[1]}'",
            "order_by": [f"metrics.{metric} DESC"],
            "max_results": k,
        }
        return [run["info"]["run_id"] for run in self._search(body).get("runs", [])]

    def run_ids(self, experiment_id: str) -> list[str]:
        ids: list[str] = []
        body: dict[str, Any] = {"experiment_ids": [experiment_id], "max_results": PAGE}
        while True:
            page = self._search(body)
            ids += [run["info"]["run_id"] for run in page.get("runs", [])]
            if not page.get("next_page_token"):
                return ids
            body["page_token"] = page["next_page_token"]

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        params = {"run_id": run_id, "metric_key": key}
        metrics = _expect(self.http.get("/metrics/get-history", params=params), 200).get("metrics", [])
        return sorted((int(m["step"]), float(m["value"])) for m in metrics)
