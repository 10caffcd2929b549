"""How `xclab up | demo` start their local worker so the API and dashboard stay responsive next to it: a
thread budget that leaves a core free, and a lower scheduling priority."""

from __future__ import annotations

import os

WORKER_NICENESS = 10  # training yields the CPU to page loads and API calls, and still gets every idle cycle
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def thread_budget(cpus: int, concurrency: int) -> int:
    """Threads per training run: the cores less one (for the API and dashboard), shared by concurrent runs."""
    spare = cpus - 1 if cpus > 1 else 1
    return max(1, spare // max(1, concurrency))


def worker_env(env: dict[str, str], cpus: int, concurrency: int) -> dict[str, str]:
    """The worker's environment; a thread count the user set (XCL_TORCH_THREADS, OMP_NUM_THREADS...) wins."""
    threads = env.get("XCL_TORCH_THREADS") or str(thread_budget(cpus, concurrency))
    return {**dict.fromkeys(THREAD_VARIABLES, threads), **env, "XCL_TORCH_THREADS": threads}


def lower_priority() -> None:
    """Run in the child before exec (POSIX): the worker and every process it forks inherit the niceness."""
    os.nice(WORKER_NICENESS)
