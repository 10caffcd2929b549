"""Benchmark: tracking at scale, XCL Lab against an MLflow tracking server, side by side on the same backend.

For each backend (a fresh SQLite file, then a fresh PostgreSQL database) it starts MLflow (`mlflow server`,
one uvicorn worker) and then XCL Lab (`xclab serve`) as real processes on loopback, one after the other
(with --paired, both at once, taking turns part by part: `benchmarks/tracking/pairing.py`),
replays the same seeded workload through each over plain HTTP (one keep-alive client, one request at a
time): runs with 10 params and 5 metric keys, a top-100 search by a param filter ordered by a metric's
latest value at each scale, batched and single-point ingestion, a long history read and a liveness probe. Every
answer is checked; a wrong one stops the benchmark with exit status 1 (2: it could not run). It prints the
figures with ratios (> 1: XCL Lab is better), server CPU seconds per phase and memory, the machine, a
WARNING when other processes kept the machine busy, and, measured after the servers stopped, the floors under
liveness, memory and the PostgreSQL one-point write with the best ratio each allows any server
(`benchmarks/tracking/ceilings.py`; `--no-floors` skips them; with --paired the bare socket is also timed
in each liveness part, beside each server's own requests). Run (about 45 minutes at full size on 2 cores;
--quick, SQLite only unless --backends says otherwise, about a minute):

    .venv/bin/python benchmarks/tracking_vs_mlflow.py [--quick] [--backends sqlite,postgresql]
        [--mlflow-python PATH] [--markdown FILE] [--only liveness,search,batched,history,single] [--paired]

MLflow comes from the `bench` extra (`pip install -e '.[bench]'`) or any interpreter given as --mlflow-python
(MLflow on PostgreSQL needs psycopg2 or psycopg there; the backend extra brings psycopg).
"""

from __future__ import annotations

import argparse
import functools
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.tracking import ceilings, machine, procstats, report  # noqa: E402
from benchmarks.tracking.adapters import CheckFailed, Mlflow, Tracker, XclLab  # noqa: E402
from benchmarks.tracking.pairing import SETTLE_LIMIT_S, OutOfStep, take_turns  # noqa: E402
from benchmarks.tracking.plain_http import CLIENTS  # noqa: E402
from benchmarks.tracking.runner import PHASES, Result, Runner, Sizes  # noqa: E402
from benchmarks.tracking.servers import (  # noqa: E402
    BACKEND_LABELS,
    Postgres,
    Server,
    ServerFailed,
    start_mlflow,
    start_xclab,
)
from benchmarks.tracking.workload import Workload  # noqa: E402

QUIET_CORES = 0.5  # average cores other processes may keep busy before the figures are called noisy
QUICK = Sizes(scales=(50, 100), repeats=5, history_points=2_000, single_points=50, health_requests=50)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def setup_error(message: str) -> NoReturn:
    """Exit status 2: the benchmark could not run (1 is kept for a wrong answer)."""
    log(f"error: {message}")
    sys.exit(2)


def parse_args() -> argparse.Namespace:
    full = Sizes()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small smoke-test workload (about a minute)")
    p.add_argument(
        "--runs",
        help=f"comma-separated run counts the search is timed at (default {','.join(map(str, full.scales))})",
    )
    p.add_argument("--repeats", type=int, help=f"timed searches and history reads (default {full.repeats})")
    p.add_argument(
        "--history-points", type=int, help=f"points per key ingested (default {full.history_points})"
    )
    p.add_argument("--single-points", type=int, help=f"one-point requests (default {full.single_points})")
    p.add_argument(
        "--health-requests", type=int, help=f"GET /health requests (default {full.health_requests})"
    )
    p.add_argument("--backends", help="sqlite, postgresql or both (default both; --quick: sqlite)")
    p.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test",
                   help="an admin connection; the benchmark creates its own databases and drops them")  # fmt: skip
    p.add_argument("--mlflow-python", help="interpreter with mlflow installed (default: this one)")
    p.add_argument("--mlflow-workers", type=int, default=1, help="uvicorn workers of mlflow server")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--only",
        help=f"comma-separated figures to measure, of {','.join(PHASES)} (default all; memory is always sampled)",
    )
    p.add_argument("--client", choices=sorted(CLIENTS), default="plain",
                   help="the HTTP client: plain (http.client, the least time of its own) or httpx")  # fmt: skip
    p.add_argument("--paired", action="store_true",
                   help="both servers up at once, taking turns part by part; adds a paired ratio to each timed "
                   "figure (the median over blocks of turns, with a 95%% interval), which the machine's drift "
                   "between the two halves of a run moves much less")  # fmt: skip
    p.add_argument("--markdown", type=Path, help="also write the report to this file")
    p.add_argument("--keep", action="store_true", help="keep the work folder (databases, server logs)")
    p.add_argument("--no-floors", action="store_true",
                   help="skip the floors measured after the servers (and the best ratios they allow)")  # fmt: skip
    return p.parse_args()


def sizes_from(args: argparse.Namespace) -> Sizes:
    base = QUICK if args.quick else Sizes()
    scales = tuple(sorted(int(n) for n in args.runs.split(","))) if args.runs else base.scales
    return Sizes(
        scales=scales,
        repeats=args.repeats or base.repeats,
        history_points=args.history_points or base.history_points,
        single_points=args.single_points or base.single_points,
        health_requests=args.health_requests or base.health_requests,
        parts=base.parts
        if args.paired
        else 1,  # one part per figure (and scale) unless the servers take turns
    )


def mlflow_python(arg: str | None) -> str:
    python = arg or sys.executable
    if not machine.has_module(python, "mlflow"):
        where = f"--mlflow-python {arg}" if arg else "this interpreter"
        setup_error(
            f"{where} cannot import mlflow. Install the bench extra (pip install -e '.[bench]') "
            "or pass --mlflow-python PATH of an interpreter that has mlflow."
        )
    return python


@functools.cache
def mlflow_pg_driver(python: str) -> str | None:
    """psycopg2, MLflow's long-documented PostgreSQL driver, else psycopg 3 (SQLAlchemy 2.1's default)."""
    return next((m for m in ("psycopg2", "psycopg") if machine.has_module(python, m)), None)


@contextmanager
def serving(
    product: str, backend: str, workdir: Path, pg: Postgres | None, args: argparse.Namespace, mlflow_py: str
) -> Iterator[Server]:
    prefix = "trkbench_mlflow" if product == "MLflow" else "trkbench_xclab"
    with pg.database(prefix) if pg and backend == "postgresql" else nullcontext(None) as database:
        if product == "MLflow":
            uri = pg.url(database, f"postgresql+{mlflow_pg_driver(mlflow_py)}") if database and pg else None
            server = start_mlflow(mlflow_py, workdir, backend, uri, database, args.mlflow_workers)
        else:
            url = pg.url(database, "postgresql+psycopg") if database and pg else None
            server = start_xclab(sys.executable, workdir, backend, url, database)
        try:
            yield server
        finally:
            server.stop()


def phases_from(arg: str | None) -> tuple[str, ...]:
    if not arg:
        return PHASES
    chosen = tuple(p.strip() for p in arg.split(",") if p.strip())
    unknown = set(chosen) - set(PHASES)
    if unknown or not chosen:
        setup_error(f"--only: unknown figure(s) {sorted(unknown)}; choose from {','.join(PHASES)}")
    return chosen


CLIENT_LABELS = {"plain": "Python's http.client", "httpx": "httpx"}


def paired_note(sizes: Sizes) -> list[str]:
    per_read = sizes.repeats / min(sizes.parts, sizes.repeats)
    reads = "one request" if per_read == 1 else f"the median of its {per_read:g} requests"
    return [
        "Paired (--paired): both servers were up at once and took turns in the order A B B A, A B B A, ...; each "
        f"timed figure was measured in {sizes.parts} parts (run creation and each run's metrics in {sizes.parts} "
        "at each scale; fewer parts where a figure has fewer requests), each opened by an untimed liveness "
        f"request, and after each turn the server that had just run was given up to {SETTLE_LIMIT_S:g} s to go "
        'idle (metered as its phase "between turns"). Each block of four turns gives one ratio, the geometric '
        "mean of its two pairs' (part i of MLflow against part i of XCL Lab; an odd last part is left out); the "
        "paired ratio is the median over blocks with a sign-test 95 % interval, which assumes the blocks' ratios "
        "are independent with a common median (none under 6 blocks). A search or history part's figure is "
        f"{reads}; a search row pairs its p50's. Unless --no-floors (or liveness was left out), a bare socket "
        "answering fixed bytes ran beside both servers and was timed in each liveness part too, as many requests "
        "in a block of their own, after the server's in one part and before them in the next (the liveness "
        "phase's wall time in the CPU table includes them).",
        "",
    ]


def tracker_for(server: Server, client: str) -> Tracker:
    log(f"{server.product} on {BACKEND_LABELS[server.backend]} at {server.url}")
    return Mlflow(server, client) if server.product == "MLflow" else XclLab(server, client)


def measure(server: Server, sizes: Sizes, seed: int, phases: tuple[str, ...], client: str) -> Result:
    tracker = tracker_for(server, client)
    try:
        return Runner(tracker, Workload(seed), sizes, log, phases).run()
    finally:
        tracker.close()


def measure_paired(
    servers: tuple[Server, Server],
    sizes: Sizes,
    seed: int,
    phases: tuple[str, ...],
    client: str,
    socket: ceilings.SocketBeside | None = None,
) -> dict[str, Result]:
    """Both servers up, their workloads taking turns part by part (`tracking.pairing`); with `socket`, each
    server's liveness timed beside it (`Runner.floor`)."""
    trackers = [tracker_for(server, client) for server in servers]
    callers = [ceilings.socket_caller(socket, client) for _ in trackers] if socket is not None else []
    floors = [call for call, _ in callers] or [None] * len(trackers)
    beside = (socket,) if socket is not None else ()
    try:
        runners = [
            Runner(
                tracker,
                Workload(seed),
                sizes,
                lambda message, product=tracker.product: log(f"{product}: {message.strip()}"),
                phases,
                procstats.Meter(tracker.server, partners=(other.server, *beside)),
                warm_each_part=True,
                floor=floor,
            )
            for tracker, other, floor in zip(trackers, reversed(trackers), floors, strict=True)
        ]
        return {result.product: result for result in take_turns(*runners)}
    finally:
        for tracker in trackers:
            tracker.close()
        for _, close in callers:
            close()


SETTLE_SECONDS = 120.0


def wait_for_low_load(limit: float) -> None:
    """Give the 1-minute load average up to `limit` seconds to fall under QUIET_CORES: it remembers the last
    minute (a build or test run just before), and a start on its tail would be reported as noisy."""
    deadline = time.monotonic() + limit
    load = procstats.load_average()
    if load is not None and load > QUIET_CORES:
        log(f"  1-minute load average {load:.2f}: waiting up to {limit:.0f} s for it to settle")
    while load is not None and load > QUIET_CORES and time.monotonic() < deadline:
        time.sleep(5)
        load = procstats.load_average()


def quiet_lines(before: float | None, load: float | None, results: list[Result]) -> tuple[list[str], bool]:
    parts = []
    noisy = False
    if before is not None:
        parts.append(f"before the start, other processes kept {before:.2f} cores busy")
        noisy |= before > QUIET_CORES
    if load is not None:
        parts.append(f"1-minute load average {load:.2f}")
        noisy |= load > QUIET_CORES
    for r in results:
        cores = r.meter.outside_cores() if r.meter else None
        if cores is not None:
            parts.append(f"during {r.product} on {BACKEND_LABELS[r.backend]}: {cores:.2f} cores")
            noisy |= cores > QUIET_CORES
        partner = r.meter.partner_cores() if r.meter else None
        if partner is not None:  # the other server, between its own turns: noise all the same
            socket = " (and the bare socket beside liveness)" if len(r.meter.partners) > 1 else ""
            parts.append(f"the other server{socket}, while {r.product} was timed: {partner:.2f} cores")
            noisy |= partner > QUIET_CORES
        if r.slow_to_settle:
            parts.append(
                f"{r.product} was still busy {SETTLE_LIMIT_S:g} s after {r.slow_to_settle} of its turns"
            )
    lines = ["Machine load from outside the benchmark: " + "; ".join(parts) + "."]
    if noisy:
        lines.append(
            f"WARNING: the machine was not quiet (more than {QUIET_CORES} cores busy elsewhere): "
            "these figures are noisy; rerun on a quiet machine before recording them."
        )
    return lines, noisy


def floors_intro(label: str, floors: ceilings.Floors) -> list[str]:
    lines = [
        f"Floors on this machine, {label}: what a Python server on uvloop (liveness, the one-point write) or any "
        "FastAPI server (memory) cannot go below, measured after the servers stopped, and the best ratio each "
        "allows against MLflow's figure (`benchmarks/tracking/ceilings.py`)."
    ]
    if floors.outside_cores is not None:
        lines[0] += f" Other processes kept {floors.outside_cores:.2f} cores busy just before."
        if floors.outside_cores > QUIET_CORES:
            lines.append("WARNING: the machine was not quiet; the floors, and so the best ratios, are noisy.")
    return lines


def render(
    args: argparse.Namespace,
    sizes: Sizes,
    description: list[str],
    quiet: list[str],
    results: dict[str, dict[str, Result]],
    floors: ceilings.Floors | None = None,
) -> str:
    command = shlex.join(["python", "benchmarks/tracking_vs_mlflow.py", *sys.argv[1:]])
    lines = [
        f"Command: `{command}`",
        "",
        *[f"- {line}" for line in description],
        "",
        f"Workload (seed {args.seed}): searched experiment grown to {', '.join(f'{n:,}' for n in sizes.scales)} "
        f"runs; {sizes.repeats} timed repetitions of each read; one keep-alive HTTP client "
        f"({CLIENT_LABELS[args.client]}), one request at a time; every answer checked. Ratios: > 1 means XCL Lab is better.",
        "",
        "Requests: MLflow `runs/create` + `runs/log-batch` (params), `runs/search`, `runs/log-batch`, "
        "`runs/log-metric`, `metrics/get-history` (full, unpaged), `GET /health`; XCL Lab `POST /runs` (a tracking run with "
        "its params), `GET /runs?param=arch:resnet50&sort=-metric:val_top1`, "
        "`POST /runs/{id}/metrics`, `GET /runs/{id}/metrics/{key}`, `GET /api/v1/health/live`. Both servers wait "
        "until their processes are idle before the first figure.",
        "",
        *(paired_note(sizes) if args.paired else []),
        *quiet,
    ]
    for backend, pair in results.items():
        if len(pair) < 2:
            continue
        label = BACKEND_LABELS[backend]
        lines += [
            "",
            f"### {label}: MLflow vs XCL Lab",
            "",
            *report.figures_table(pair["MLflow"], pair["XCL Lab"], sizes, paired=args.paired),
        ]
        served = ", including the PostgreSQL backends serving it" if backend == "postgresql" else ""
        lines += ["", f"Wall time and server CPU (whole process tree{served}) per phase, {label}:", ""]
        lines += report.cpu_table(pair["MLflow"], pair["XCL Lab"])
        if beside := ceilings.paired_socket_lines([pair["MLflow"], pair["XCL Lab"]]):
            lines += ["", *beside]
        if floors is not None and (bounded := ceilings.table(pair["MLflow"], floors, backend)):
            lines += ["", *floors_intro(label, floors), "", *bounded]
    return "\n".join(lines) + "\n"


def main() -> int:
    args = parse_args()
    sizes = sizes_from(args)
    phases = phases_from(args.only)
    chosen = args.backends or ("sqlite" if args.quick else "sqlite,postgresql")
    backends = [b.strip() for b in chosen.split(",") if b.strip()]
    unknown = set(backends) - set(BACKEND_LABELS)
    if unknown:
        setup_error(f"unknown backend(s) {sorted(unknown)}; choose from {sorted(BACKEND_LABELS)}")
    mlflow_py = mlflow_python(args.mlflow_python)
    pg, pg_version = None, None
    if "postgresql" in backends:
        pg = Postgres(args.postgres_url)
        try:
            pg_version = pg.version()
        except Exception as exc:
            setup_error(f"PostgreSQL at {args.postgres_url} does not answer ({exc}); use --backends sqlite")
        if mlflow_pg_driver(mlflow_py) is None:
            setup_error(
                "MLflow on PostgreSQL needs psycopg2 (psycopg2-binary) or psycopg in the MLflow "
                "interpreter; or use --backends sqlite"
            )
    Workload(args.seed).expected_top(max(sizes.scales))  # refuses a seed with tied sort values up front

    log("measuring how busy the machine is before starting...")
    wait_for_low_load(SETTLE_SECONDS)
    before, load = procstats.quiet_probe(), procstats.load_average()
    workdir = Path(tempfile.mkdtemp(prefix="tracking-bench-"))
    results: dict[str, dict[str, Result]] = {}
    started = time.perf_counter()
    try:
        for backend in backends:
            if args.paired:
                beside = not args.no_floors and "liveness" in phases
                with (
                    serving("MLflow", backend, workdir, pg, args, mlflow_py) as theirs,
                    serving("XCL Lab", backend, workdir, pg, args, mlflow_py) as ours,
                    ceilings.socket_beside() if beside else nullcontext() as socket,
                ):
                    results[backend] = measure_paired(
                        (theirs, ours), sizes, args.seed, phases, args.client, socket
                    )
                continue
            for product in ("MLflow", "XCL Lab"):
                with serving(product, backend, workdir, pg, args, mlflow_py) as server:
                    results.setdefault(backend, {})[product] = measure(
                        server, sizes, args.seed, phases, args.client
                    )
    except CheckFailed as exc:
        log(f"CHECK FAILED: {exc}")
        return 1
    except OutOfStep as exc:
        setup_error(f"the two servers' workloads fell out of step (a bug of the benchmark): {exc}")
    except ServerFailed as exc:
        setup_error(str(exc))
    finally:
        if args.keep:
            log(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    floors = None
    if not args.no_floors:
        log("measuring the floors under liveness, memory and the one-point write...")
        timed_write = "postgresql" in backends and "single" in phases
        try:
            floors = ceilings.measure(args.client, args.postgres_url if timed_write else None)
        except Exception as exc:  # the figures measured so far are still reported
            log(f"the floors could not be measured, reported without them: {exc!r}")
    log(f"done in {time.perf_counter() - started:,.0f} s")

    quiet, _ = quiet_lines(before, load, [r for pair in results.values() for r in pair.values()])
    text = render(
        args,
        sizes,
        machine.describe(mlflow_py, pg_version, pg_version and mlflow_pg_driver(mlflow_py)),
        quiet,
        results,
        floors,
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
