"""The `xclab` entry point: how it is installed, named, and how it reports an API it cannot reach."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

from tests.cli.conftest import plain_env, xclab
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_console_script_is_the_cli_and_is_packaged() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    module, _, function = project["project"]["scripts"]["xclab"].partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    packaged = project["tool"]["setuptools"]["packages"]["find"]["include"]
    top_level = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert top_level <= {name.removesuffix("*") for name in packaged}, "a top-level package would not install"


def test_python_m_cli_is_the_xclab_command() -> None:
    result = xclab(plain_env(), "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: xclab" in result.stdout
    for command in (
        "serve",
        "worker",
        "dashboard",
        "up",
        "demo",
        "submit",
        "runs",
        "train",
        "rerun",
        "db",
        "grid",
    ):
        assert f" {command} " in result.stdout


def test_an_unreachable_api_is_one_readable_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    env = {**plain_env(), "XCL_API_URL": url, "XCL_API_RETRY_SECONDS": "0"}
    result = xclab(env, "runs")
    assert result.returncode == 1
    assert f"cannot reach the XCL Lab API at {url}" in result.stdout
    assert "Traceback" not in result.stderr
