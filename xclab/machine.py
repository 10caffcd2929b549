"""Facts about the machine a process runs on, read without heavy imports (the worker's run environment and the
benchmarks' reports both use them)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The processor's model name (Linux /proc/cpuinfo), else what `platform` knows (often only 'x86_64')."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
