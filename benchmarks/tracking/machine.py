"""What the figures were measured on: hardware, OS, both servers' interpreters and package versions."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from xclab.machine import cpu_model

VERSIONS_SCRIPT = """
import json, platform, sqlite3
from importlib import metadata
def v(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
print(json.dumps({"python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
                  **{n: v(n) for n in NAMES}}))
"""
MLFLOW_PACKAGES = ["mlflow", "sqlalchemy", "fastapi", "uvicorn", "psycopg2-binary", "psycopg2"]
XCLAB_PACKAGES = ["xclab", "fastapi", "uvicorn", "sqlalchemy", "psycopg", "httpx"]


def interpreter_versions(python: str, names: list[str]) -> dict[str, str | None]:
    script = f"NAMES = {names!r}\n{VERSIONS_SCRIPT}"
    done = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr.strip()[-200:]}


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                name = line.split("=", 1)[1].strip('"')
                return f"{name}, kernel {platform.release()}"
    except OSError:
        pass
    return platform.platform()


def _cores() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{usable} usable of {os.cpu_count()} logical"


def _packages(versions: dict[str, str | None]) -> str:
    return ", ".join(f"{k} {v}" for k, v in versions.items() if v and k not in ("python", "sqlite"))


def describe(mlflow_python: str, postgres_version: str | None, mlflow_pg_driver: str | None) -> list[str]:
    """Lines for the report."""
    mine = {n: _version(n) for n in XCLAB_PACKAGES}
    theirs = interpreter_versions(mlflow_python, MLFLOW_PACKAGES)
    memory = _memory_gib()
    lines = [
        f"CPU: {cpu_model()}, {_cores()} cores; RAM {memory:.1f} GiB" if memory else f"CPU: {cpu_model()}",
        f"OS: {_os_name()}",
        f"XCL Lab: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; {_packages(mine)}",
        f"MLflow: Python {theirs.get('python')}, SQLite {theirs.get('sqlite')}; {_packages(theirs)}",
    ]
    if postgres_version:
        lines.append(
            f"PostgreSQL server {postgres_version}; drivers: XCL Lab psycopg, MLflow {mlflow_pg_driver}"
        )
    set_vars = sorted(k for k in os.environ if k.startswith("MLFLOW_"))
    if set_vars:
        lines.append(f"MLflow settings from the environment: {', '.join(set_vars)}")
    return lines


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def has_module(python: str, module: str) -> bool:
    if python == sys.executable:
        import importlib.util

        return importlib.util.find_spec(module) is not None
    script = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([python, "-c", script], capture_output=True, timeout=60).returncode == 0
