"""Headless Debian Chromium driven by Selenium, plus a dashboard process for page checks."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx

from tests.support import Process, Stack, free_port, start_process

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def start_dashboard(stack: Stack) -> tuple[Process, str]:
    port = free_port()
    proc = start_process("dashboard", ["dashboard", "--port", str(port)], stack.env, stack.home / "logs")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        assert proc.proc.poll() is None, f"dashboard exited:\n{proc.tail()}"
        time.sleep(0.5)
    proc.stop()
    raise RuntimeError(f"dashboard did not start:\n{proc.tail()}")


def chrome(width: int = 1600, height: int = 1200):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # The flags that keep Chromium off the network it does not have and out of a sandbox it cannot use as root.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
