"""System metrics of a run over time, logged as `system/*` metrics beside the training curves.

Every `interval` seconds (XCL_SYSTEM_METRICS_SECONDS, default 10; 0 turns it off) a background thread logs, at
step = Unix time in whole seconds (so a retried attempt's samples follow the earlier attempt's instead of
overwriting them; the run page plots them as seconds since the first sample):

| key | what |
| --- | --- |
| `system/cpu_percent` | CPU of the run's process and its children (100 = one core busy) |
| `system/rss_mb` | resident memory of the run's process and its children, MiB |
| `system/ram_percent` | the machine's memory in use, percent |
| `system/gpu_util` | utilisation of the run's GPUs, percent (mean), when CUDA is in use |
| `system/gpu_mem_mb` | memory used on the run's GPUs, MiB (sum), when CUDA is in use |

The points ride the run's metric batcher, so they never wait on the network either.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from typing import Protocol

import psutil

log = logging.getLogger(__name__)
MiB = 1024 * 1024
SYSTEM_PREFIX = "system/"


class PointSink(Protocol):
    def log(self, values: dict[str, float], step: int, wall_time: float | None = None) -> None: ...


class SystemMonitor:
    def __init__(self, metrics: PointSink, interval: float) -> None:
        self.metrics, self.interval = metrics, interval
        self._process = psutil.Process()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_step = -1
        self._cpu_seen: dict[int, psutil.Process] = {}

    def start(self) -> SystemMonitor:
        if self.interval > 0:
            self._sample_and_log()
            self._thread = threading.Thread(target=self._loop, name="system-metrics", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and log a last sample (so even a short run has its end point)."""
        if self._thread is None:
            return
        self._halt.set()
        self._thread.join(timeout=10)
        self._thread = None
        self._sample_and_log()

    def _loop(self) -> None:
        while not self._halt.wait(self.interval):
            self._sample_and_log()

    def _sample_and_log(self) -> None:
        try:
            values = self.sample()
        except Exception as exc:  # a metric is never worth a failed run
            log.warning("system metrics not sampled: %s", exc)
            return
        now = time.time()
        step = max(self._last_step + 1, int(now))
        self._last_step = step
        with contextlib.suppress(RuntimeError):  # the batcher closed under us at the run's end
            self.metrics.log(values, step, now)

    def sample(self) -> dict[str, float]:
        processes = [self._process]
        with contextlib.suppress(psutil.Error):
            processes += self._process.children(recursive=True)
        cpu, rss = 0.0, 0
        for proc in processes:
            # cpu_percent compares with the previous call on the same Process object: keep them across samples.
            tracked = self._cpu_seen.setdefault(proc.pid, proc)
            with contextlib.suppress(psutil.Error):
                cpu += tracked.cpu_percent(None)
                rss += tracked.memory_info().rss
        values = {
            "system/cpu_percent": cpu,
            "system/rss_mb": rss / MiB,
            "system/ram_percent": float(psutil.virtual_memory().percent),
        }
        values.update(gpu_sample())
        return values


def gpu_sample() -> dict[str, float]:
    """The run's GPUs, when this process uses CUDA (torch already imported by the run): nvidia-smi for the
    visible devices, else torch's own count of reserved memory."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return {}
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    indices = [part.strip() for part in visible.split(",") if part.strip().isdigit()]
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
        if indices:
            query += ["-i", ",".join(indices)]
        try:
            lines = subprocess.run(query, capture_output=True, text=True, timeout=10, check=True).stdout
            rows = [[float(v) for v in line.split(",")] for line in lines.splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            log.debug("nvidia-smi failed: %s", exc)
        else:
            if rows:
                return {
                    "system/gpu_util": sum(r[0] for r in rows) / len(rows),
                    "system/gpu_mem_mb": sum(r[1] for r in rows),
                }
    reserved = sum(torch.cuda.memory_reserved(i) for i in range(torch.cuda.device_count()))
    return {"system/gpu_mem_mb": reserved / MiB}
