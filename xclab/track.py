"""Tracking from any training script, as with MLflow: a run with params, metrics per step, finished at the end.

    from xclab import track

    with track.start_run(name="baseline", params={"lr": 0.1, "arch": "resnet50"}, experiment="cifar") as run:
        for step in range(steps):
            ...
            run.log_metrics({"loss": loss, "top1": top1}, step=step)   # returns at once

`log_metrics` never waits on the network: a background thread sends the points in batches (see
`xclab.metric_batcher`), retrying what failed, and `finish` (or leaving the `with` block) delivers what is left
before the run is marked succeeded; an exception leaving the block marks it failed, with the error. The API is
found as every client finds it: XCL_API_URL and XCL_API_TOKEN (or the token `xclab up` stored), or pass `client`.
A script that dies without finishing leaves its run `running`; `xclab cancel <id>` ends it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from xclab.client import ApiClient, ApiError
from xclab.metric_batcher import MetricBatcher
from xclab.settings import get_settings

__all__ = ["TrackedRun", "start_run"]

ParamValue = str | int | float | bool
log = logging.getLogger(__name__)
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class TrackedRun:
    """A running tracking run: log params and metrics, then `finish` (or use it as a context manager)."""

    def __init__(
        self, client: ApiClient, run: dict[str, Any], *, owns_client: bool, interval: float, max_batch: int
    ) -> None:
        self.client = client
        self.id: int = run["id"]
        self.name: str | None = run.get("name")
        self.experiment_id: int = run["experiment_id"]
        self.params: dict[str, ParamValue] = dict(run.get("params") or {})
        self.status: str = run["status"]
        self._owns_client = owns_client
        self._batcher = MetricBatcher(client, self.id, interval=interval, max_batch=max_batch)
        self._steps: dict[str, int] = {}
        self._lock = threading.Lock()

    def log_params(self, params: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
        """Add params (sent at once: params are few). A param keeps its first value; changing one is refused."""
        self.params = self.client.log_params(self.id, dict(params))
        return self.params

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Queue values at `step` (default: each key's next step: 0, 1, 2, ...) and return at once."""
        with self._lock:
            if step is None:
                # Keys logged together without a step share the next step of the most advanced one.
                step = max((self._steps.get(k, -1) + 1 for k in metrics), default=0)
            for key in metrics:
                self._steps[key] = max(self._steps.get(key, -1), step)
        self._batcher.log(metrics, step)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.log_metrics({key: value}, step)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every metric logged so far is stored."""
        self._batcher.flush(timeout)

    def finish(self, status: str = "succeeded", error: str | None = None) -> None:
        """Deliver the remaining metrics, then mark the run `succeeded`, `failed` or `cancelled`."""
        try:
            try:
                self._batcher.close()
            except ApiError as exc:
                # Ended meanwhile (cancelled from the dashboard or CLI): a finished run is final, so what was
                # logged after that is refused. Say so rather than fail the script's last line.
                if self._ended_elsewhere(exc) is None:
                    raise
                log.warning("run %s was ended elsewhere; metrics logged after that were not stored", self.id)
            try:
                self.status = self.client.finish_run(self.id, status, error)["status"]
            except ApiError as exc:
                current = self._ended_elsewhere(exc)
                if current is None:
                    raise
                self.status = current
        finally:
            if self._owns_client:
                self.client.close()

    def _ended_elsewhere(self, exc: ApiError) -> str | None:
        """The run's final status when `exc` is the API refusing a write because the run has ended."""
        if exc.status_code != 409:
            return None
        current = self.client.get_run(self.id)["status"]
        return current if current in FINAL_STATUSES else None

    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.finish("succeeded")
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("cancelled", "interrupted")
        else:
            self.finish("failed", f"{type(exc).__name__}: {exc}")


def start_run(
    name: str | None = None,
    params: Mapping[str, ParamValue] | None = None,
    experiment: str = "default",
    *,
    client: ApiClient | None = None,
    interval: float = 1.0,
    max_batch: int = 1_000,
) -> TrackedRun:
    """Create a tracking run in `experiment` (created when missing) with its params, in one request.

    `interval`: seconds between background sends; `max_batch`: points per request (sent early when reached)."""
    owns = client is None
    api = client or ApiClient.from_settings(get_settings())
    try:
        experiment_id = api.ensure_experiment(experiment)["id"]
        run = api.start_tracking_run(experiment_id, name=name, params=dict(params or {}))
    except BaseException:
        if owns:
            api.close()
        raise
    return TrackedRun(api, run, owns_client=owns, interval=interval, max_batch=max_batch)
