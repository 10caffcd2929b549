"""The one REST client for the XCL Lab API v1, used by workers, the CLI, the dashboard and any user script.

Safe to repeat, so retried through an outage (see xclab.client_http): reads, artifact uploads (PUT), the PATCH
that replaces tags and notes, metric batches (a (key, step) written twice is stored once) and the worker's
heartbeat, claim and finish (see `claim_run` and `finish_run`). Sent once: submit, create, cancel and retry, so
that an answer lost on the way back cannot create a second run or grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from xclab.client_http import ApiError, ApiUnavailable, HttpSession
from xclab.settings import Settings

__all__ = ["ANALYTICS_VIEWS", "ApiClient", "ApiError", "ApiUnavailable"]

ANALYTICS_VIEWS = ("gap", "entropy", "student-size", "lineage", "cost")


class ApiClient:
    """Methods are named after the REST resources (`list_runs`, `get_run`, `submit_run`, `cancel_run`, ...) and
    return the API's JSON; every failure is an `ApiError` (`ApiUnavailable` when no answer came)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        connect_timeout: float | None = None,
        retry_seconds: float = 120.0,
    ) -> None:
        self._http = HttpSession(
            url, token, timeout=timeout, connect_timeout=connect_timeout, retry_seconds=retry_seconds
        )
        self.url = self._http.url

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> ApiClient:
        """The client for XCL_API_URL with XCL_API_TOKEN (or the token `xclab up` stored)."""
        options.setdefault("retry_seconds", settings.api_retry_seconds)
        return cls(settings.api_url, settings.resolved_api_token(), **options)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------ reference data

    def health(self) -> dict[str, Any]:
        return self._http.json("GET", "/health")

    def whoami(self) -> dict[str, Any]:
        """{role, name, auth} of this client's token (401 when it is missing or wrong)."""
        return self._http.json("GET", "/whoami")

    def get_catalog(self) -> dict[str, Any]:
        return self._http.json("GET", "/catalog")

    def list_experiments(self) -> list[dict[str, Any]]:
        return self._http.json("GET", "/experiments")["data"]

    def create_experiment(self, name: str, description: str = "") -> dict[str, Any]:
        return self._http.json("POST", "/experiments", json={"name": name, "description": description})

    def ensure_experiment(self, name: str) -> dict[str, Any]:
        """The experiment of this name, created when missing (safe when another client creates it first)."""
        for _ in range(2):
            found = next((e for e in self.list_experiments() if e["name"] == name), None)
            if found is not None:
                return found
            try:
                return self.create_experiment(name)
            except ApiError as exc:
                if exc.status_code != 409:  # 409: created meanwhile; read it back
                    raise
        raise ApiError(409, f"experiment '{name}' could not be created or found")

    # ------------------------------------------------------------ runs

    def list_runs(
        self,
        *,
        experiment_id: int | None = None,
        status: Sequence[str] | None = None,
        task: Sequence[str] | None = None,
        method: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        sort: str | None = None,
        limit: int | None = None,
        page_token: str | None = None,
        search: str | None = None,
    ) -> dict[str, Any]:
        """One page, {data, next_page_token}; tags must all match; sort may be [-]metric:<key>; search: words
        that must each appear in the run's name, method, model, task, status, notes or tags."""
        params = _run_filters(experiment_id, status, task, method, tags, search)
        params.update({k: v for k, v in (("sort", sort), ("limit", limit), ("page_token", page_token)) if v})
        return self._http.json("GET", "/runs", params=params)

    def count_runs(
        self,
        *,
        experiment_id: int | None = None,
        status: Sequence[str] | None = None,
        task: Sequence[str] | None = None,
        method: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        search: str | None = None,
    ) -> int:
        """How many runs list_runs would page through with these filters."""
        params = _run_filters(experiment_id, status, task, method, tags, search)
        return int(self._http.json("GET", "/runs/count", params=params)["total"])

    def get_run_columns(
        self,
        *,
        experiment_id: int | None = None,
        status: Sequence[str] | None = None,
        task: Sequence[str] | None = None,
        method: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """{spec_fields, hparam_fields, metric_keys, tags, sampled_runs} of the runs these filters match."""
        return self._http.json(
            "GET", "/runs/columns", params=_run_filters(experiment_id, status, task, method, tags)
        )

    def compare_runs(self, run_ids: Sequence[int]) -> dict[str, Any]:
        """{runs, spec_diff: {path: {run id (str): value}}, metric_keys} for 2 to 20 runs."""
        return self._http.json("GET", "/runs/compare", params={"ids": list(run_ids)})

    def get_run(self, run_id: int) -> dict[str, Any]:
        return self._http.json("GET", f"/runs/{run_id}")

    def submit_run(
        self, experiment_id: int | None, spec: dict[str, Any], queue: str | None = None
    ) -> dict[str, Any]:
        # None is sent as is: the API's 422 then names experiment_id, like any other field.
        body: dict[str, Any] = {"experiment_id": experiment_id, "spec": spec}
        if queue:
            body["queue"] = queue
        return self._http.json("POST", "/runs", json=body)

    def start_tracking_run(
        self, experiment_id: int, *, name: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A run no worker executes (no spec): the caller logs to it and finishes it. Sent once."""
        body: dict[str, Any] = {"experiment_id": experiment_id, "params": dict(params or {})}
        if name is not None:
            body["name"] = name
        return self._http.json("POST", "/runs", json=body)

    def log_params(self, run_id: int, params: dict[str, Any]) -> dict[str, Any]:
        """Add params ({all params}); safe to repeat, as a param keeps its first value (another one is a 409)."""
        return self._http.json("POST", f"/runs/{run_id}/params", json={"params": params}, idempotent=True)[
            "params"
        ]

    def annotate_run(
        self, run_id: int, *, tags: Sequence[str] | None = None, notes: str | None = None
    ) -> dict[str, Any]:
        """Replace a run's tags and/or notes (None leaves one as it is); a replacement is safe to repeat."""
        body = {
            k: v
            for k, v in (("tags", None if tags is None else list(tags)), ("notes", notes))
            if v is not None
        }
        return self._http.json("PATCH", f"/runs/{run_id}", json=body, idempotent=True)

    def cancel_run(self, run_id: int) -> dict[str, Any]:
        return self._http.json("POST", f"/runs/{run_id}/cancel")

    def retry_run(self, run_id: int) -> dict[str, Any]:
        return self._http.json("POST", f"/runs/{run_id}/retry")

    def rerun_run(self, run_id: int) -> dict[str, Any]:
        """A new run repeating finished run `run_id` (its `rerun_of` names the original)."""
        return self._http.json("POST", f"/runs/{run_id}/rerun")

    def compare_reproduction(self, run_id: int, other_id: int) -> dict[str, Any]:
        """{identical, first_divergence, environment_diff, ...}: did `other_id` reproduce `run_id`?"""
        return self._http.json("GET", f"/runs/{run_id}/compare/{other_id}")

    def set_run_environment(self, run_id: int, environment: dict[str, Any]) -> dict[str, Any]:
        return self._http.json("PUT", f"/runs/{run_id}/environment", json=environment, idempotent=True)

    # ------------------------------------------------------------ the worker's side of a run

    def claim_run(self, run_id: int, worker_host: str, attempt: int | None) -> dict[str, Any]:
        """Take a queued run (409 when it was cancelled or taken). Repeating a claim never takes a run twice,
        but when the first answer was lost the repeat is refused, as the run is no longer queued: the run is
        then read back, and counts as claimed when it is running on this host at this attempt."""
        path, body = f"/runs/{run_id}/claim", {"worker_host": worker_host, "attempt": attempt}
        try:
            return self._http.json("POST", path, json=body, idempotent=True)
        except ApiError as exc:
            if exc.status_code != 409 or exc.attempts < 2:
                raise
            run = self.get_run(run_id)
            ours = run["worker_host"] == worker_host and attempt in (None, run["attempt"])
            if run["status"] == "running" and ours:
                return run
            raise

    def heartbeat_run(self, run_id: int, attempt: int | None = None) -> dict[str, Any]:
        """{status, cancel_requested}; 409 when the run is no longer running (at this attempt)."""
        params = {"attempt": attempt} if attempt is not None else None
        return self._http.json("POST", f"/runs/{run_id}/heartbeat", params=params, idempotent=True)

    def finish_run(
        self, run_id: int, status: str, error: str | None = None, attempt: int | None = None
    ) -> dict[str, Any]:
        """Report the final status. A repeat after a lost answer is refused (the run is no longer running);
        the run is then read back and counts as finished when it holds the status sent (or cancelled, which a
        success becomes when the user asked to cancel)."""
        try:
            return self._http.json(
                "POST",
                f"/runs/{run_id}/finish",
                json={"status": status, "error": error, "attempt": attempt},
                idempotent=True,
            )
        except ApiError as exc:
            if exc.status_code != 409 or exc.attempts < 2:
                raise
            run = self.get_run(run_id)
            if run["status"] == status or (status == "succeeded" and run["status"] == "cancelled"):
                return run
            raise

    # ------------------------------------------------------------ metrics and artifacts

    def log_metrics(self, run_id: int, points: list[dict[str, Any]]) -> int:
        """Write points {key, step, value}; idempotent per (key, step). Returns how many were written."""
        body = {"metrics": points}
        return self._http.json("POST", f"/runs/{run_id}/metrics", json=body, idempotent=True)["written"]

    def list_metric_keys(self, run_id: int) -> list[str]:
        return self._http.json("GET", f"/runs/{run_id}/metrics")["keys"]

    def get_metric_history(
        self, run_id: int, key: str, max_points: int | None = None, wall_time: bool = False
    ) -> list[dict[str, Any]]:
        """[{step, value}] by step ({step, value, wall_time} with wall_time); max_points downsamples evenly,
        keeping the first and last points."""
        params: dict[str, Any] = {"max_points": max_points} if max_points else {}
        if wall_time:
            params["wall_time"] = "true"
        return self._http.json("GET", f"/runs/{run_id}/metrics/{quote(key, safe='/')}", params=params)[
            "points"
        ]

    def append_run_logs(self, run_id: int, chunks: list[dict[str, Any]]) -> dict[str, Any]:
        """Append console chunks {seq, stream, text, wall_time}; idempotent per seq. {written, truncated}."""
        return self._http.json("POST", f"/runs/{run_id}/logs", json={"chunks": chunks}, idempotent=True)

    def read_run_logs(
        self, run_id: int, after_seq: int = -1, limit: int = 1_000, *, tail: bool = False
    ) -> dict[str, Any]:
        """{chunks, next_after_seq, total_bytes, truncated}: chunks after `after_seq` (the last `limit` with tail)."""
        params = {"after_seq": after_seq, "limit": limit, "tail": str(tail).lower()}
        return self._http.json("GET", f"/runs/{run_id}/logs", params=params)

    def upload_artifact(
        self, run_id: int, path: str, file: Path, kind: str = "file", attempt: int | None = None
    ) -> dict[str, Any]:
        """Store a file under the run (replacing one at the same path): {path, kind, sha256, size, url}. Streamed
        from disk. With `attempt`: 409 once the run has moved on to another attempt."""
        artifact_path = f"/runs/{run_id}/artifacts/{quote(path, safe='/')}"
        params: dict[str, Any] = {"kind": kind} | ({"attempt": attempt} if attempt is not None else {})
        return self._http.upload(artifact_path, file, params)

    def read_artifact(self, run_id: int, path: str) -> bytes:
        return self._http.send("GET", f"/runs/{run_id}/artifacts/{quote(path, safe='/')}").content

    def download_artifact(self, run_id: int, path: str, target: Path) -> Path:
        """Stream an artifact into a file (large checkpoints never sit in memory whole)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        return self._http.download(f"/runs/{run_id}/artifacts/{quote(path, safe='/')}", target)

    # ------------------------------------------------------------ grids

    def list_grids(self, *, cells: bool = True) -> list[dict[str, Any]]:
        """Every grid, newest first, with status counts; cells=False leaves out the cells (fast for big grids)."""
        return self._http.json("GET", "/grids", params={"cells": str(cells).lower()})["data"]

    def list_builtin_grids(self) -> list[dict[str, Any]]:
        """The grids shipped with XCL Lab as {name, yaml}."""
        return self._http.json("GET", "/grids/builtin")["data"]

    def get_grid(self, grid_id: int) -> dict[str, Any]:
        return self._http.json("GET", f"/grids/{grid_id}")

    def submit_grid(self, definition: dict[str, Any], experiment_id: int | None = None) -> dict[str, Any]:
        """Expand a grid definition into runs (teachers first; students wait for them)."""
        body: dict[str, Any] = {"definition": definition}
        if experiment_id is not None:
            body["experiment_id"] = experiment_id
        return self._http.json("POST", "/grids", json=body)

    def retry_grid(self, grid_id: int) -> dict[str, Any]:
        """Re-enqueue only the failed or cancelled cells."""
        return self._http.json("POST", f"/grids/{grid_id}/retry")

    def get_grid_report(self, grid_id: int, baselines: list[str] | None = None) -> dict[str, Any]:
        """The paper-style table as JSON (rows with intervals and paired comparisons, metric, goal, note).
        baselines: what every row is compared with ('kd', 'erm', or a method label); default kd and erm."""
        params: dict[str, Any] = {"format": "json", **({"baseline": baselines} if baselines else {})}
        return self._http.json("GET", f"/grids/{grid_id}/report", params=params)

    def get_grid_report_text(self, grid_id: int, fmt: str, baselines: list[str] | None = None) -> str:
        """The same table rendered by the API: fmt is markdown, latex or csv."""
        params: dict[str, Any] = {"format": fmt, **({"baseline": baselines} if baselines else {})}
        return self._http.send("GET", f"/grids/{grid_id}/report", params=params).text

    # ------------------------------------------------------------ analysis views and saved runs-table views

    def get_analytics(
        self, view: str, *, grid_id: int | None = None, experiment_id: int | None = None
    ) -> dict[str, Any]:
        """One of the paper's analysis views (ANALYTICS_VIEWS) of a grid or an experiment."""
        if view not in ANALYTICS_VIEWS:
            raise ValueError(f"unknown analysis view '{view}'; known: {', '.join(ANALYTICS_VIEWS)}")
        scope = {k: v for k, v in (("grid_id", grid_id), ("experiment_id", experiment_id)) if v is not None}
        return self._http.json("GET", f"/analytics/{view}", params=scope)

    def report_worker(self, name: str, inventory: dict[str, Any]) -> dict[str, Any]:
        """Upsert this worker's inventory (host, queues, GPUs, slots, running runs, software)."""
        return self._http.json("PUT", f"/workers/{quote(name, safe='@')}", json=inventory, idempotent=True)

    def list_workers(self) -> dict[str, Any]:
        return self._http.json("GET", "/workers")

    def list_views(self) -> list[dict[str, Any]]:
        """Saved runs-table views ({id, name, params: {filters, sort, columns, page_size}}), by name."""
        return self._http.json("GET", "/views")["data"]

    def create_view(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._http.json("POST", "/views", json={"name": name, "params": params})

    def delete_view(self, view_id: int) -> None:
        self._http.send("DELETE", f"/views/{view_id}")


def _run_filters(
    experiment_id: int | None,
    status: Sequence[str] | None,
    task: Sequence[str] | None,
    method: Sequence[str] | None,
    tags: Sequence[str] | None,
    search: str | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {} if experiment_id is None else {"experiment_id": experiment_id}
    for name, values in (("status", status), ("task", task), ("method", method), ("tag", tags)):
        if values:
            params[name] = list(values)
    if search and search.strip():
        params["search"] = search.strip()
    return params
