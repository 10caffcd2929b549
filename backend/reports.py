"""The paper's tables for a grid: mean +- std over seeds of the primary metric, the gap to the teacher ensemble,
the gap reduction relative to KD, and H-hat; rendered as JSON, Markdown, LaTeX or CSV."""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from backend.models import Grid, Run
from backend.store import summary
from xclab.catalog import TASKS

NOTE = (
    "Test-split metrics of the last epoch (no selection on the test split); mean ± sample std over the seeds "
    "that succeeded (n). Gap: teacher ensemble minus student for accuracy, student minus ensemble for errors. "
    "Gap reduction vs KD = (gap_KD − gap) / gap_KD, against the KD row of the same student model."
)


@dataclass
class Row:
    group: str
    method: str
    model: str
    n: int
    seeds_total: int
    mean: float | None
    std: float | None
    teacher: float | None
    gap: float | None
    gap_reduction_vs_kd: float | None
    h_hat: float | None


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def grid_report(grid: Grid, runs: list[Run]) -> dict[str, Any]:
    task = TASKS[grid.definition["task"]]
    key, goal = task.primary_metric.key, task.primary_metric.goal
    teacher_key = key.replace("test_", "teacher_test_", 1)
    # Each run's latest metrics, built once (the tables below read them several times per run).
    summaries = {r.id: summary(r) for r in runs}
    groups: dict[str, list[Run]] = defaultdict(list)
    ensembles: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        cell = run.cell or ""
        if cell.startswith("student/"):
            groups[cell.rsplit("/seed=", 1)[0]].append(run)
        elif cell.startswith("teacher/"):
            ensembles[cell.split("/")[1]].append(run)

    # The ensemble's own score, as measured by every student distilled from it (identical across them).
    ensemble_scores = [
        summaries[r.id][teacher_key]
        for rs in groups.values()
        for r in rs
        if r.status == "succeeded" and teacher_key in summaries[r.id]
    ]
    ensemble_score = statistics.fmean(ensemble_scores) if ensemble_scores else None

    rows: list[Row] = []
    for group, members in groups.items():
        done = [r for r in members if r.status == "succeeded" and key in summaries[r.id]]
        mean, std = _mean_std([summaries[r.id][key] for r in done])
        h_values = [summaries[r.id]["h_hat"] for r in done if "h_hat" in summaries[r.id]]
        _, method, model = group.split("/", 2)
        gap = None
        if mean is not None and ensemble_score is not None:
            gap = ensemble_score - mean if goal == "max" else mean - ensemble_score
        rows.append(
            Row(
                group,
                method,
                model,
                len(done),
                len(members),
                mean,
                std,
                ensemble_score,
                gap,
                None,
                statistics.fmean(h_values) if h_values else None,
            )
        )
    for row in rows:
        kd = _kd_reference(rows, row.model)
        if kd is not None and kd.gap and row.gap is not None:
            row.gap_reduction_vs_kd = 100.0 * (kd.gap - row.gap) / kd.gap

    members = [
        {
            "ensemble": name,
            "members": len(rs),
            "succeeded": sum(r.status == "succeeded" for r in rs),
            "member_mean": _mean_std([summaries[r.id][key] for r in rs if key in summaries[r.id]])[0],
        }
        for name, rs in ensembles.items()
    ]
    seeds = sorted({r.spec.get("seed") for rs in groups.values() for r in rs})
    return {
        "grid_id": grid.id,
        "grid": grid.name,
        "task": task.name,
        "metric": key,
        "goal": goal,
        "selection": "last-epoch",
        "split": "test",
        "seeds": seeds,
        "ensemble_score": ensemble_score,
        "teachers": members,
        "rows": [asdict(r) for r in rows],
        "note": NOTE,
    }


def _kd_reference(rows: list[Row], model: str) -> Row | None:
    """The plain KD row of this student model: 'kd', else a sweep's T = 1 cell."""
    candidates = [
        r for r in rows if r.model == model and (r.method == "kd" or r.method.startswith("kd[temperature=1]"))
    ]
    return candidates[0] if candidates else None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _cells(row: dict[str, Any]) -> list[str]:
    mean = "–" if row["mean"] is None else f"{row['mean']:.2f} ± {row['std']:.2f}"
    reduction = "–" if row["gap_reduction_vs_kd"] is None else f"{row['gap_reduction_vs_kd']:+.0f} %"
    return [
        row["method"],
        row["model"],
        f"{row['n']}/{row['seeds_total']}",
        mean,
        _fmt(row["gap"]),
        reduction,
        _fmt(row["h_hat"], 1),
    ]


HEADERS = ["method", "student", "n", "{metric} (mean ± std)", "gap", "gap red. vs KD", "Ĥ (%)"]


def _caption(report: dict[str, Any]) -> str:
    ensemble = "–" if report["ensemble_score"] is None else f"{report['ensemble_score']:.2f}"
    return (
        f"{report['grid']} ({report['task']}): {report['metric']} ({'higher' if report['goal'] == 'max' else 'lower'} "
        f"is better), teacher ensemble {ensemble}; seeds {report['seeds']}; {report['selection']} values on the "
        f"{report['split']} split."
    )


def to_markdown(report: dict[str, Any]) -> str:
    headers = [h.format(metric=report["metric"]) for h in HEADERS]
    lines = [f"**{_caption(report)}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in report["rows"]]
    return "\n".join([*lines, "", report["note"], ""])


def _latex_escape(text: str) -> str:
    for a, b in [
        ("\\", r"\textbackslash{}"),
        ("_", r"\_"),
        ("%", r"\%"),
        ("&", r"\&"),
        ("#", r"\#"),
        ("±", r"$\pm$"),
        ("Ĥ", r"$\hat{H}$"),
        ("–", "--"),
    ]:
        text = text.replace(a, b)
    return text


def to_latex(report: dict[str, Any]) -> str:
    headers = [_latex_escape(h.format(metric=report["metric"])) for h in HEADERS]
    body = [" & ".join(_latex_escape(c) for c in _cells(row)) + r" \\" for row in report["rows"]]
    return "\n".join(
        [
            r"\begin{table}[t]",
            r"\centering",
            r"\begin{tabular}{llrrrrr}",
            r"\toprule",
            " & ".join(headers) + r" \\",
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            rf"\caption{{{_latex_escape(_caption(report))}}}",
            r"\end{table}",
            "",
        ]
    )


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    fields = [
        "method",
        "model",
        "n",
        "seeds_total",
        "mean",
        "std",
        "teacher",
        "gap",
        "gap_reduction_vs_kd",
        "h_hat",
    ]
    writer = csv.DictWriter(out, fieldnames=["grid", "metric", "selection", *fields], extrasaction="ignore")
    writer.writeheader()
    for row in report["rows"]:
        writer.writerow(
            {"grid": report["grid"], "metric": report["metric"], "selection": report["selection"], **row}
        )
    return out.getvalue()
