"""REST client for the XCL Lab API: what workers (and any user script) use to report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential


class ApiError(RuntimeError):
    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, ApiError) and exc.status_code in {502, 503, 504}


# A worker must ride out an API restart rather than lose a finished run's report.
_retrying = retry(
    retry=retry_if_exception(_transient),
    wait=wait_exponential(multiplier=0.2, max=5),
    stop=stop_after_delay(120),
    reraise=True,
)


class ApiClient:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/") + "/api/v1", headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @_retrying
    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            raise ApiError(response.status_code, detail)
        return response.json() if response.content else None

    # --- reads
    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health")

    def catalog(self) -> dict[str, Any]:
        return self._request("GET", "/catalog")

    def get_run(self, run_id: int) -> dict[str, Any]:
        return self._request("GET", f"/runs/{run_id}")

    def list_runs(self, **params: Any) -> dict[str, Any]:
        return self._request("GET", "/runs", params={k: v for k, v in params.items() if v is not None})

    def list_experiments(self) -> list[dict[str, Any]]:
        return self._request("GET", "/experiments")["data"]

    def metric_history(self, run_id: int, key: str, max_points: int | None = None) -> list[dict[str, Any]]:
        params = {"max_points": max_points} if max_points else {}
        return self._request("GET", f"/runs/{run_id}/metrics/{key}", params=params)["points"]

    def download_artifact(self, run_id: int, path: str, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._http.stream("GET", f"/runs/{run_id}/artifacts/{path}") as response:
            if response.status_code >= 400:
                response.read()
                raise ApiError(response.status_code, response.text)
            with target.open("wb") as fh:
                for chunk in response.iter_bytes():
                    fh.write(chunk)
        return target

    def grid(self, grid_id: int) -> dict[str, Any]:
        return self._request("GET", f"/grids/{grid_id}")

    def grids(self) -> list[dict[str, Any]]:
        return self._request("GET", "/grids")["data"]

    def grid_report(self, grid_id: int, fmt: str = "json") -> Any:
        if fmt == "json":
            return self._request("GET", f"/grids/{grid_id}/report")
        response = self._http.get(f"/grids/{grid_id}/report", params={"format": fmt})
        if response.status_code >= 400:
            raise ApiError(response.status_code, response.text)
        return response.text

    # --- writes
    def submit_grid(self, definition: dict[str, Any], experiment_id: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"definition": definition}
        if experiment_id is not None:
            body["experiment_id"] = experiment_id
        return self._request("POST", "/grids", json=body)

    def retry_grid(self, grid_id: int) -> dict[str, Any]:
        return self._request("POST", f"/grids/{grid_id}/retry")

    def create_experiment(self, name: str, description: str = "") -> dict[str, Any]:
        return self._request("POST", "/experiments", json={"name": name, "description": description})

    def submit_run(
        self, experiment_id: int, spec: dict[str, Any], queue: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"experiment_id": experiment_id, "spec": spec}
        if queue:
            body["queue"] = queue
        return self._request("POST", "/runs", json=body)

    def cancel(self, run_id: int) -> dict[str, Any]:
        return self._request("POST", f"/runs/{run_id}/cancel")

    def retry(self, run_id: int) -> dict[str, Any]:
        return self._request("POST", f"/runs/{run_id}/retry")

    def claim(self, run_id: int, worker_host: str, attempt: int | None) -> dict[str, Any]:
        return self._request(
            "POST", f"/runs/{run_id}/claim", json={"worker_host": worker_host, "attempt": attempt}
        )

    def heartbeat(self, run_id: int) -> dict[str, Any]:
        return self._request("POST", f"/runs/{run_id}/heartbeat")

    def finish(self, run_id: int, status: str, error: str | None = None) -> dict[str, Any]:
        return self._request("POST", f"/runs/{run_id}/finish", json={"status": status, "error": error})

    def log_metrics(self, run_id: int, points: list[dict[str, Any]]) -> int:
        return self._request("POST", f"/runs/{run_id}/metrics", json={"metrics": points})["written"]

    def upload_artifact(self, run_id: int, path: str, file: Path, kind: str = "file") -> dict[str, Any]:
        with file.open("rb") as fh:
            return self._request(
                "PUT", f"/runs/{run_id}/artifacts/{path}", params={"kind": kind}, content=fh.read()
            )
