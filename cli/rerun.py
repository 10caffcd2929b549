"""`xclab rerun ID [--verify]`: repeat a finished run as a new run and, with --verify, say whether it
reproduced every metric exactly (exit 0) or where it parted and what differed in its environment (exit 1)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.common import console, open_client
from cli.runs import follow_run
from xclab.settings import get_settings


def rerun(
    run_id: Annotated[int, typer.Argument(help="A finished run to repeat.")],
    verify: Annotated[
        bool, typer.Option(help="Wait for the repeat and compare every metric exactly (exit 1 if not).")
    ] = False,
    timeout: Annotated[float, typer.Option(help="--verify: seconds to wait for the repeat.")] = 1800,
) -> None:
    """Repeat a finished run (same spec, seed and stored hyperparameters) as a new run."""
    with open_client(get_settings()) as client:
        again = client.rerun_run(run_id)
        console.print(f"run {again['id']} {again['status']}: repeats run {run_id}")
        if not verify:
            return
        final = follow_run(client, again["id"], timeout)
        report = client.compare_reproduction(run_id, again["id"])
    console.print(describe(report, final["status"]))
    raise typer.Exit(0 if report["identical"] else 1)


def describe(report: dict[str, Any], status: str) -> str:
    a, b = report["a"], report["b"]
    lines = []
    if report["identical"]:
        lines.append(
            f"identical: run {b} reproduced run {a} exactly ({report['compared_points']} metric points)"
        )
    else:
        lines.append(f"NOT identical: run {b} ({status}) did not reproduce run {a}")
        lines += [f"  {problem}" for problem in report["problems"]]
        d = report["first_divergence"]
        if d:
            lines.append(f"  first divergence: epoch {d['step']}, {d['key']}: {d['a']!r} vs {d['b']!r}")
        for side in ("a", "b"):
            only = report[f"only_in_{side}"]
            if only:
                lines.append(
                    f"  only in run {report[side]}: {', '.join(only[:10])}{' ...' if len(only) > 10 else ''}"
                )
    env = report["environment_diff"]
    if env:
        lines.append("environment fields that differ:")
        lines += [f"  {key}: {v['a']!r} -> {v['b']!r}" for key, v in env.items()]
    else:
        lines.append("environment: no field differs")
    return "\n".join(lines)
