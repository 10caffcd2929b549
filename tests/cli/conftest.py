"""CLI tests run the `xclab` command as a user does: a real process (`python -m cli`), against a live API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def xclab(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def plain_env() -> dict[str, str]:
    """The environment without any XCL_ setting: the command's own defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("XCL_")}
