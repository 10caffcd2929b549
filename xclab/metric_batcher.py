"""Metric points sent in batches by a background thread, so a training step never waits on the network.

`log` only appends to a list under a lock. The thread sends what has piled up every `interval` seconds, or as
soon as `max_batch` points wait, through `ApiClient.log_metrics`, which retries transport failures and 502-504
(a (key, step) written twice is stored once, so a retried batch is harmless). A batch the API still could not
take stays queued and is tried again; a batch it refuses (4xx: the run is gone) is dropped and reported.
`flush` waits until everything logged before it has been delivered, and raises the problem if one occurred.
The same batching carries a run's console chunks (`send=client.append_run_logs`): any items whose write is
idempotent can ride it.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from xclab.client_http import ApiError, ApiUnavailable

log = logging.getLogger(__name__)

METRIC_KEY = re.compile(r"[A-Za-z0-9_.\-/]{1,250}")  # what the API accepts


class MetricSink(Protocol):
    def log_metrics(self, run_id: int, points: list[dict[str, Any]]) -> int: ...


class MetricBatcher:
    def __init__(
        self,
        client: MetricSink,
        run_id: int,
        *,
        interval: float = 1.0,
        max_batch: int = 1_000,
        send: Callable[[int, list[dict[str, Any]]], object] | None = None,
        what: str = "metric points",
    ) -> None:
        self.client, self.run_id = client, run_id
        # What delivers a batch (idempotent per item, since a failed batch is sent again), and what to call items.
        self._deliver = send or client.log_metrics
        self.what = what
        self.interval, self.max_batch = interval, max_batch
        self._cond = threading.Condition()
        self._pending: list[dict[str, Any]] = []
        self._logged = 0  # points accepted by `log`
        self._settled = 0  # points delivered, or refused by the API and dropped
        self._flush_waiters = 0
        self._closed = False
        self._error: ApiError | None = None  # the last failed send (retried), cleared when a flush starts
        self._refused: ApiError | None = None  # a batch the API refused, kept until a flush reports it
        self._thread = threading.Thread(
            target=self._loop, name=f"xclab-{what.split()[0]}-run-{run_id}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------ the training loop's side

    def log(self, values: Mapping[str, float], step: int, wall_time: float | None = None) -> None:
        """Queue one value per key at `step`; checks the points here so a bad one fails at the call."""
        now = time.time() if wall_time is None else wall_time
        points = []
        for key, value in values.items():
            if not METRIC_KEY.fullmatch(key):
                raise ValueError(f"metric key {key!r}: use 1-250 characters from A-Z a-z 0-9 _ . - /")
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(f"metric {key!r} at step {step} is {number}; only finite values are stored")
            if step < 0:
                raise ValueError(f"metric {key!r}: step {step} is negative")
            points.append({"key": key, "step": int(step), "value": number, "wall_time": now})
        self.log_points(points)

    def log_points(self, points: Iterable[dict[str, Any]]) -> None:
        batch = list(points)
        with self._cond:
            if self._closed:
                raise RuntimeError(f"run {self.run_id}: {self.what} logged after the run was finished")
            self._pending.extend(batch)
            self._logged += len(batch)
            if len(self._pending) >= self.max_batch:
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        """Block until every point logged so far is delivered; raise the API's error if one stopped it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target, self._error = self._logged, None
            self._flush_waiters += 1
            self._cond.notify_all()
            try:
                while self._settled < target and self._error is None and self._refused is None:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise TimeoutError(
                            f"run {self.run_id}: {target - self._settled} {self.what} not sent"
                        )
                    self._cond.wait(left)
                refused, self._refused = self._refused, None
                if refused is not None:
                    raise refused
                if self._error is not None:
                    raise self._error
            finally:
                self._flush_waiters -= 1

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the thread. Later `log` calls raise."""
        try:
            self.flush(timeout)
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._thread.join(timeout=5)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    # ------------------------------------------------------------ the sending thread

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._closed or self._flush_waiters > 0 or len(self._pending) >= self.max_batch,
                    timeout=self.interval,
                )
                if self._closed and not self._pending:
                    return
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
            if batch:
                self._send(batch)

    def _send(self, batch: list[dict[str, Any]]) -> None:
        try:
            self._deliver(self.run_id, batch)
        except ApiError as exc:
            retry = isinstance(exc, ApiUnavailable) or (exc.status_code or 0) >= 500
            with self._cond:
                if retry:  # kept, in order, for the next round
                    self._error = exc
                    self._pending[:0] = batch
                else:
                    self._refused = exc
                    self._settled += len(batch)
                self._cond.notify_all()
            # Logged outside the lock: a log record may be written into a run's captured console, whose reader
            # queues through this same lock (worker.console).
            if not retry:
                log.error("run %s: %d %s refused: %s", self.run_id, len(batch), self.what, exc)
            if retry:
                time.sleep(self.interval)
            return
        with self._cond:
            self._settled += len(batch)
            self._cond.notify_all()
