"""What a worker reports about itself to the API (host, queues, GPUs, slots, the runs it holds, software), and the
GPU each pool process may use.

Runs in the worker's parent process without importing torch (CUDA is not fork-safe): GPUs are listed by
`nvidia-smi`, or given by `XCL_WORKER_GPUS` (to restrict a node, or to fake an inventory in tests)."""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import threading
from importlib import metadata
from typing import Any

from celery import signals

from xclab.client import ApiClient, ApiError, ApiUnavailable
from xclab.settings import Settings

log = logging.getLogger(__name__)
PACKAGES = ("xclab", "torch", "torchvision", "numpy", "celery")


def detect_gpus(settings: Settings) -> list[dict[str, Any]]:
    """[{index, name, memory_mb}] from XCL_WORKER_GPUS, else nvidia-smi, else none."""
    if settings.worker_gpus:
        gpus = json.loads(settings.worker_gpus)
        if not isinstance(gpus, list):
            raise ValueError("XCL_WORKER_GPUS must be a JSON list of {index, name, memory_mb}")
        return gpus
    if shutil.which("nvidia-smi") is None:
        return []
    query = ["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"]
    try:
        lines = subprocess.run(
            query, capture_output=True, text=True, timeout=20, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not list GPUs with nvidia-smi: %s", exc)
        return []
    gpus = []
    for line in lines:
        index, name, memory = (part.strip() for part in line.split(","))
        gpus.append({"index": int(index), "name": name, "memory_mb": int(float(memory))})
    return gpus


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def running_run_ids() -> list[int]:
    """Runs this worker executes now: the run id is the first argument of every active task request."""
    from celery.worker import state

    return sorted({int(req.args[0]) for req in list(state.active_requests) if req.args})


class InventoryReporter(threading.Thread):
    def __init__(self, settings: Settings, name: str, queues: list[str], slots: int) -> None:
        super().__init__(name="inventory", daemon=True)
        self.settings, self.name_, self.queues, self.slots = settings, name, queues, slots
        self.gpus = detect_gpus(settings)
        self.software = software_versions()
        self._halt = threading.Event()

    def inventory(self, state: str = "online") -> dict[str, Any]:
        return {
            "host": socket.gethostname(),
            "queues": self.queues,
            "gpus": self.gpus,
            "slots": self.slots,
            "running": running_run_ids(),
            "software": self.software,
            "state": state,
        }

    def report(self, state: str = "online") -> None:
        try:
            with ApiClient.from_settings(self.settings, retry_seconds=5.0) as client:
                client.report_worker(self.name_, self.inventory(state))
        except (ApiError, ApiUnavailable) as exc:  # the API may be restarting: report again next beat
            log.warning("worker inventory not reported: %s", exc)

    def run(self) -> None:
        self.report()
        while not self._halt.wait(self.settings.worker_inventory_seconds):
            self.report()

    def stop(self) -> None:
        self._halt.set()
        self.report("stopped")


def install(settings: Settings, queues: list[str], slots: int) -> None:
    """Report the inventory once the worker is ready and every few seconds after; say 'stopped' on shutdown. Pool
    processes each get one GPU (CUDA_VISIBLE_DEVICES) so that side-by-side runs never share a card; a worker of
    one slot gives its one pool process every GPU, so it can hold multi-GPU (DDP) runs."""
    reporter: dict[str, InventoryReporter] = {}
    gpus = detect_gpus(settings)

    @signals.worker_ready.connect(weak=False)
    def _ready(sender: Any = None, **_: Any) -> None:
        reporter["r"] = InventoryReporter(settings, sender.hostname, queues, slots)
        reporter["r"].start()

    @signals.worker_shutting_down.connect(weak=False)
    def _down(**_: Any) -> None:
        if "r" in reporter:
            reporter["r"].stop()

    @signals.worker_process_init.connect(weak=False)
    def _gpus_of_this_process(**_: Any) -> None:
        from billiard.process import current_process

        index = getattr(current_process(), "index", 0) or 0
        visible = visible_gpus(gpus, slots, index)
        if visible is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = visible


def visible_gpus(gpus: list[dict[str, Any]], slots: int, process_index: int) -> str | None:
    """CUDA_VISIBLE_DEVICES for pool process `process_index` (None: leave it as it is, no GPUs listed). One slot:
    every GPU, in the listed order (a DDP run's ranks use them in that order); more: one GPU each."""
    if not gpus:
        return None
    if slots == 1:
        return ",".join(str(g["index"]) for g in gpus)
    return str(gpus[process_index % len(gpus)]["index"])
