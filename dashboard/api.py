"""The dashboard's one door to the backend: REST API v1 over httpx.

Nothing else in the dashboard imports httpx or reads settings; pages call these methods and handle `ApiError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import httpx

from xclab.settings import get_settings

# "waiting": a grid student whose teachers (or generator) have not finished yet.
RUN_STATUSES = ("waiting", "queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class ApiError(Exception):
    """The API answered with an error (or, for the subclass, could not be reached)."""

    def __init__(self, message: str, status_code: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail

    @property
    def field_errors(self) -> list[dict[str, Any]]:
        """FastAPI-shaped validation errors ({loc, msg, ...}); empty for other errors."""
        if isinstance(self.detail, list):
            return [e for e in self.detail if isinstance(e, dict) and "msg" in e]
        return []


class ApiUnavailable(ApiError):
    """No answer at all: the API is down or the URL is wrong."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the XCL Lab API at {url}: {reason}")
        self.url = url
        self.reason = reason


def _error_message(response: httpx.Response) -> tuple[str, Any]:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text or response.reason_phrase
    if isinstance(detail, list):
        parts = [f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in detail]
        text = "; ".join(parts)
    else:
        text = str(detail)
    if response.status_code == 401:
        text += " (set XCL_API_TOKEN, or start the stack with `xclab up`, which stores .xclab/token)"
    return f"{response.status_code} {response.reason_phrase}: {text}", detail


@dataclass
class Api:
    """A thin, typed-by-convention client: every method returns the API's JSON."""

    url: str
    token: str | None
    http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        # Short connect timeout: a missing API should be reported at once, not after a long hang.
        self.http = httpx.Client(
            base_url=f"{self.url}/api/v1", headers=headers, timeout=httpx.Timeout(15.0, connect=3.0)
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiUnavailable(self.url, f"{type(exc).__name__}: {exc}") from exc
        if response.is_error:
            message, detail = _error_message(response)
            raise ApiError(message, response.status_code, detail)
        return response

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    # ------------------------------------------------------------ reference data

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health")

    def catalog(self) -> dict[str, Any]:
        return self._request("GET", "/catalog")

    def experiments(self) -> list[dict[str, Any]]:
        return self._request("GET", "/experiments")["data"]

    def create_experiment(self, name: str, description: str = "") -> dict[str, Any]:
        return self._request("POST", "/experiments", json={"name": name, "description": description})

    # ------------------------------------------------------------ runs

    def runs(
        self,
        *,
        experiment_id: int | None = None,
        status: list[str] | None = None,
        task: list[str] | None = None,
        method: list[str] | None = None,
        sort: str = "-id",
        limit: int = 100,
        page_token: str | None = None,
    ) -> dict[str, Any]:
        """One page: {data, next_page_token}."""
        params: dict[str, Any] = {"sort": sort, "limit": limit}
        if experiment_id is not None:
            params["experiment_id"] = experiment_id
        for name, values in (("status", status), ("task", task), ("method", method)):
            if values:
                params[name] = values
        if page_token:
            params["page_token"] = page_token
        return self._request("GET", "/runs", params=params)

    def run(self, run_id: int) -> dict[str, Any]:
        return self._request("GET", f"/runs/{run_id}")

    def submit_run(self, experiment_id: int | None, spec: dict[str, Any]) -> dict[str, Any]:
        # None is sent as is: the API's 422 then names experiment_id, like any other field.
        return self._request("POST", "/runs", json={"experiment_id": experiment_id, "spec": spec})

    def cancel_run(self, run_id: int) -> dict[str, Any]:
        return self._request("POST", f"/runs/{run_id}/cancel")

    def retry_run(self, run_id: int) -> dict[str, Any]:
        return self._request("POST", f"/runs/{run_id}/retry")

    # ------------------------------------------------------------ metrics and artifacts

    def metric_keys(self, run_id: int) -> list[str]:
        return self._request("GET", f"/runs/{run_id}/metrics")["keys"]

    def metric_history(self, run_id: int, key: str, max_points: int = 2000) -> list[dict[str, Any]]:
        path = f"/runs/{run_id}/metrics/{quote(key, safe='/')}"
        return self._request("GET", path, params={"max_points": max_points})["points"]

    def artifact_bytes(self, run_id: int, path: str) -> bytes:
        return self._send("GET", f"/runs/{run_id}/artifacts/{quote(path, safe='/')}").content

    # ------------------------------------------------------------ grids

    def grids(self) -> list[dict[str, Any]]:
        """Every grid, newest first, with status counts but no cells (a list stays fast with big grids)."""
        return self._request("GET", "/grids", params={"cells": "false"})["data"]

    def builtin_grids(self) -> list[dict[str, Any]]:
        """The shipped grids as {name, yaml}."""
        return self._request("GET", "/grids/builtin")["data"]

    def grid(self, grid_id: int) -> dict[str, Any]:
        return self._request("GET", f"/grids/{grid_id}")

    def create_grid(self, definition: dict[str, Any], experiment_id: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"definition": definition}
        if experiment_id is not None:
            body["experiment_id"] = experiment_id
        return self._request("POST", "/grids", json=body)

    def retry_grid(self, grid_id: int) -> dict[str, Any]:
        return self._request("POST", f"/grids/{grid_id}/retry")

    def grid_report(self, grid_id: int) -> dict[str, Any]:
        """The paper-style table as JSON (rows, metric, goal, ensemble score, seeds, note)."""
        return self._request("GET", f"/grids/{grid_id}/report", params={"format": "json"})

    def grid_report_text(self, grid_id: int, fmt: str) -> str:
        """The same table rendered by the API: fmt is markdown, latex or csv."""
        return self._send("GET", f"/grids/{grid_id}/report", params={"format": fmt}).text


@lru_cache(maxsize=8)
def _api_for(url: str, token: str | None) -> Api:
    # One pooled client per (URL, token), shared by every session and fragment rerun.
    return Api(url, token)


def get_api() -> Api:
    """The client for the configured API (XCL_API_URL, and XCL_API_TOKEN or the token `xclab up` stored)."""
    settings = get_settings()
    return _api_for(settings.api_url.rstrip("/"), settings.resolved_api_token())


# ------------------------------------------------------------ analysis views (GET /analytics/<view>)

ANALYTICS_VIEWS = ("gap", "entropy", "student-size", "lineage", "cost")


def analytics(
    api: Api, view: str, *, grid_id: int | None = None, experiment_id: int | None = None
) -> dict[str, Any]:
    """One of the paper's analysis views (ANALYTICS_VIEWS) of a grid or an experiment, as the API's JSON."""
    if view not in ANALYTICS_VIEWS:
        raise ValueError(f"unknown analysis view '{view}'; known: {', '.join(ANALYTICS_VIEWS)}")
    params = {k: v for k, v in (("grid_id", grid_id), ("experiment_id", experiment_id)) if v is not None}
    return api._request("GET", f"/analytics/{view}", params=params)


# ------------------------------------------------------------ research runs table: tags, columns, views, compare


def _run_filters(
    experiment_id: int | None,
    status: list[str] | None,
    task: list[str] | None,
    method: list[str] | None,
    tags: list[str] | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {} if experiment_id is None else {"experiment_id": experiment_id}
    for name, values in (("status", status), ("task", task), ("method", method), ("tag", tags)):
        if values:
            params[name] = list(values)
    return params


def runs_page(
    api: Api,
    *,
    experiment_id: int | None = None,
    status: list[str] | None = None,
    task: list[str] | None = None,
    method: list[str] | None = None,
    tags: list[str] | None = None,
    sort: str = "-id",
    limit: int = 100,
    page_token: str | None = None,
) -> dict[str, Any]:
    """One page of runs ({data, next_page_token}); tags must all match; sort may be [-]metric:<key>."""
    params = {"sort": sort, "limit": limit, **_run_filters(experiment_id, status, task, method, tags)}
    if page_token:
        params["page_token"] = page_token
    return api._request("GET", "/runs", params=params)


def run_columns(
    api: Api,
    *,
    experiment_id: int | None = None,
    status: list[str] | None = None,
    task: list[str] | None = None,
    method: list[str] | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """{spec_fields, hparam_fields, metric_keys, tags, sampled_runs} of the runs these filters match."""
    return api._request(
        "GET", "/runs/columns", params=_run_filters(experiment_id, status, task, method, tags)
    )


def annotate_run(
    api: Api, run_id: int, *, tags: list[str] | None = None, notes: str | None = None
) -> dict[str, Any]:
    """Replace a run's tags and/or notes (a None argument is left as it is); returns the run."""
    body: dict[str, Any] = {}
    if tags is not None:
        body["tags"] = tags
    if notes is not None:
        body["notes"] = notes
    return api._request("PATCH", f"/runs/{run_id}", json=body)


def saved_views(api: Api) -> list[dict[str, Any]]:
    """Saved runs-table views ({id, name, params: {filters, sort, columns, page_size}}), by name."""
    return api._request("GET", "/views")["data"]


def save_view(api: Api, name: str, params: dict[str, Any]) -> dict[str, Any]:
    return api._request("POST", "/views", json={"name": name, "params": params})


def delete_view(api: Api, view_id: int) -> None:
    api._send("DELETE", f"/views/{view_id}")


def compare_runs(api: Api, run_ids: list[int]) -> dict[str, Any]:
    """{runs, spec_diff: {path: {run id (str): value}}, metric_keys} for 2 to 20 runs."""
    return api._request("GET", "/runs/compare", params={"ids": list(run_ids)})
