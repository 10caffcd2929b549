"""`xclab up | demo`: API + worker + dashboard as child processes, on the embedded defaults."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import console, open_client
from cli.grids import follow_grid, grid_definition, print_grid
from cli.local_worker import lower_priority, worker_env
from cli.services import dashboard_command
from cli.tokens import issue_token
from xclab.client import ApiClient, ApiError
from xclab.grids import builtin_grids
from xclab.settings import Settings, get_settings

# The paired-seed evidence grids: digits with a real teacher-student gap, and synthetic gaze with a generator that
# never saw the test persons (the second is skipped where this build does not ship it).
DEMO_GRIDS = "digits-evidence,synthetic-gaze-evidence"


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


class Stack:
    """API + worker + dashboard as child processes; stop() ends all three."""

    def __init__(self, settings: Settings, port: int, dashboard_port: int, concurrency: int = 1) -> None:
        self.settings, self.port, self.dashboard_port = settings, port, dashboard_port
        self.concurrency = concurrency
        self.user_token = ""
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self) -> str:
        from backend.db import upgrade  # the backend role's packages load only where the stack runs

        # A SIGTERM (e.g. from a process manager) must stop the children too, like Ctrl-C does.
        signal.signal(signal.SIGTERM, _interrupt)

        self.settings.home.mkdir(parents=True, exist_ok=True)
        upgrade(self.settings.resolved_database_url)
        token = self.settings.ensure_api_token()
        # Least privilege: the worker gets a worker token, the dashboard none (its visitors log in with a user
        # token); the admin token stays with the API and whoever started the stack.
        worker_token = issue_token(self.settings, "xclab-up worker", "worker", replace=True)
        self.user_token = issue_token(self.settings, "xclab-up dashboard", "user", replace=True)
        user_file = self.settings.home / "user-token"
        user_file.write_text(self.user_token + "\n")
        user_file.chmod(0o600)
        api_url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "XCL_API_URL": api_url,
            "XCL_API_TOKEN": token,
            "XCL_HOME": str(self.settings.home),
        }
        roles = {
            "api": env,
            "worker": {**env, "XCL_API_TOKEN": worker_token},
            "dashboard": {k: v for k, v in env.items() if k != "XCL_API_TOKEN"},
        }
        logs = self.settings.home / "logs"
        logs.mkdir(exist_ok=True)
        me = [sys.executable, "-m", "cli"]
        for name, cmd in [
            ("api", [*me, "serve", "--port", str(self.port)]),
            ("worker", [*me, "worker", "--queues", "cpu,gpu", "--concurrency", str(self.concurrency)]),
            ("dashboard", dashboard_command(self.dashboard_port)),
        ]:
            log = (logs / f"{name}.log").open("ab")
            is_worker = name == "worker"
            self.procs.append(
                (
                    name,
                    subprocess.Popen(
                        cmd,
                        env=worker_env(roles[name], os.cpu_count() or 1, self.concurrency)
                        if is_worker
                        else roles[name],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=lower_priority if is_worker and os.name == "posix" else None,
                    ),
                )
            )
        self._wait_healthy(api_url)
        return token

    def _wait_healthy(self, api_url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with ApiClient(api_url, timeout=2, retry_seconds=0) as client:
            while time.monotonic() < deadline:
                self.check_alive()
                try:
                    client.health()
                    return
                except ApiError:
                    time.sleep(0.3)
        raise RuntimeError(
            f"the API did not become healthy within {timeout:.0f} s; see {self.settings.home / 'logs'}"
        )

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {proc.returncode}; see {self.settings.home / 'logs' / name}.log"
                )

    def stop(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _print_stack(settings: Settings, token: str, port: int, dashboard_port: int, user_token: str) -> None:
    console.print(f"[bold green]XCL Lab is up[/bold green] (data in {settings.home.resolve()})")
    console.print(f"  API        http://127.0.0.1:{port}/api/v1   docs: http://127.0.0.1:{port}/docs")
    console.print(f"  dashboard  http://127.0.0.1:{dashboard_port}   (local only)")
    console.print(f"  log in     {user_token}   (a user token; also in {settings.home / 'user-token'})")
    console.print(
        f"  admin      {token}   (stored in {settings.token_file}; keep it out of browsers and workers)"
    )
    console.print("  logs       " + str(settings.home / "logs") + "   — Ctrl-C stops everything")


def up(port: int = 8000, dashboard_port: int = 8501) -> None:
    """API + one worker + dashboard on the embedded defaults (SQLite, filesystem broker). Ctrl-C stops all three."""
    settings = get_settings()
    stack = Stack(settings, port, dashboard_port)
    try:
        token = stack.start()
        _print_stack(settings, token, port, dashboard_port, stack.user_token)
        while True:
            stack.check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        stack.stop()


def demo(
    port: int = 8000,
    dashboard_port: int = 8501,
    grids: Annotated[str, typer.Option(help="Comma-separated built-in grids to run.")] = DEMO_GRIDS,
    concurrency: Annotated[int, typer.Option(help="Runs trained at once (default: one per CPU core).")] = 0,
    results: Annotated[
        Path | None, typer.Option(help="Also write the reports as Markdown to this file.")
    ] = None,
    exit_when_done: Annotated[bool, typer.Option(help="Stop the stack once the grids finish.")] = False,
) -> None:
    """Bring the stack up, run the evidence grids (paired seeds), print their tables and comparisons, keep serving."""
    settings = get_settings()
    stack = Stack(settings, port, dashboard_port, concurrency or max(1, os.cpu_count() or 1))
    try:
        token = stack.start()
        _print_stack(settings, token, port, dashboard_port, stack.user_token)
        settings = settings.model_copy(update={"api_url": f"http://127.0.0.1:{port}", "api_token": token})
        started = time.monotonic()
        with open_client(settings) as client:
            submitted = []
            for name in _available(grids):
                grid = client.submit_grid(grid_definition(f"builtin:{name}"))
                print_grid(grid)
                submitted.append(grid)
            console.print(f"follow along in the dashboard: http://127.0.0.1:{dashboard_port}")
            reports, summaries = [], []
            for grid in submitted:
                final = follow_grid(client, grid["id"], stack.check_alive)
                print_grid(final)
                baselines = _baselines(client.get_grid_report(grid["id"]))
                reports.append(client.get_grid_report_text(grid["id"], "markdown", baselines))
                summaries.append(headline(client.get_grid_report(grid["id"], baselines)))
                console.print(reports[-1], markup=False, highlight=False, soft_wrap=True)
            for summary in summaries:  # the paired comparisons, one line each, at the end where they are seen
                console.print("\n".join(summary), markup=False, highlight=False, soft_wrap=True)
        minutes = (time.monotonic() - started) / 60
        console.print(f"[green]demo grids finished in {minutes:.1f} min[/green]")
        if results:
            results.parent.mkdir(parents=True, exist_ok=True)
            results.write_text(_results_document(grids, reports, summaries, stack.concurrency))
            console.print(f"wrote {results}")
        if not exit_when_done:
            console.print(f"open http://127.0.0.1:{dashboard_port} to explore; Ctrl-C stops everything")
            while True:
                stack.check_alive()
                time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        stack.stop()


def _available(grids: str) -> list[str]:
    """The named grids this build ships; the others are skipped with a note (not an error)."""
    shipped, names = builtin_grids(), [g.strip() for g in grids.split(",") if g.strip()]
    for name in names:
        if name not in shipped:
            console.print(f"[yellow]skipping {name}: no such built-in grid in this build[/yellow]")
    return [n for n in names if n in shipped]


def _baselines(report: dict[str, Any]) -> list[str]:
    """KD (its reference, chosen on validation) and ERM, plus KD at T = 1 where a temperature sweep has it:
    a same-temperature comparison next to the tuned one."""
    methods = [row["method"] for row in report["rows"]]
    bases = {m.split("[", 1)[0] for m in methods}
    # ERM swept over a parameter (e.g. erm[loss=mse], erm[loss=nll]) has no plain "erm" row: compare with each.
    erm = ["erm"] if "erm" in methods else [m for m in methods if m.startswith("erm[")]
    return [
        *(["kd"] if "kd" in bases else []),
        *erm,
        *(["kd[temperature=1]"] if "kd[temperature=1]" in methods else []),
    ]


NOT_SIGNIFICANT = "(not significant: the interval covers 0)"  # as backend.reports.render words it


def headline(report_json: dict[str, Any]) -> list[str]:
    """The grid's caption, then one line per paired comparison of every row except the KD temperatures that
    were not chosen as the reference (their comparisons stay in the full table)."""
    from backend.reports.render import caption, comparison_line  # the API's own wording
    from backend.reports.schema import GridReport

    report = GridReport.model_validate(report_json)
    lines = [caption(report)]
    for row in report.rows:
        if row.method.split("[", 1)[0] == "kd" and row.kd_reference not in (None, row.group):
            continue
        lines += [comparison_line(report, row, c) for c in row.comparisons]
    return lines


def _results_document(grids: str, reports: list[str], summaries: list[list[str]], concurrency: int) -> str:
    """The results file. No timings in it (the demo prints them): the same grids on the same machine and software
    give the same runs, so regenerating this file gives the same file, byte for byte."""
    header = (
        "# Measured results of the demo grids\n\n"
        "Regenerate with:\n\n"
        f"```bash\nxclab demo --grids {grids} --exit-when-done --results docs/results.md\n```\n\n"
        f"Measured on {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), {concurrency} runs at "
        "a time (the demo prints how long they took). Every number below is a last-epoch metric on the "
        "test split (held-out persons for gaze), aggregated over the seeds listed in each caption; nothing was "
        "selected on the test split: the KD reference row is the temperature with the best mean validation metric "
        "(a validation split disjoint from training and test), as each table's KD-reference line says.\n\n"
        "## Paired comparisons\n\n"
        "Per-seed differences (the same seed gives every method the same data), mean with a 95 % t-interval, the "
        "seeds where the row is better, and the exact two-sided sign test; '(not significant ...)' marks an "
        "interval that covers 0, i.e. no effect shown at this sample size.\n\n"
    )
    lines = "\n\n".join("```text\n" + "\n".join(s) + "\n```" for s in summaries)
    comparisons = [line for s in summaries for line in s[1:]]
    verdict = "\n".join(
        [
            "",
            "Significant (the 95 % interval excludes 0):",
            "",
            *([f"- {c}" for c in comparisons if NOT_SIGNIFICANT not in c] or ["- none"]),
            "",
            "Not significant (no effect shown at this number of seeds):",
            "",
            *(
                [f"- {c.replace(NOT_SIGNIFICANT, '').rstrip()}" for c in comparisons if NOT_SIGNIFICANT in c]
                or ["- none"]
            ),
        ]
    )
    return header + lines + "\n" + verdict + "\n\n## Tables\n\n" + "\n\n".join(reports)
