"""The paper's table for a grid: mean ± std over seeds of the primary metric, the gap to the teacher ensemble,
the gap reduction relative to KD, and Ĥ; one row per student group (the cell key without its seed)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel

from backend.store.runs import summary
from backend.vocabulary import KD_REFERENCE_METHOD
from xclab.catalog import TASKS

NOTE = (
    "Test-split metrics of the last epoch (no selection on the test split); mean ± sample std over the seeds "
    "that succeeded (n). Gap: teacher ensemble minus student for accuracy, student minus ensemble for errors. "
    "Gap reduction vs KD = (gap_KD − gap) / gap_KD, against the KD row of the same student model."
)


class ReportRow(BaseModel):
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


class EnsembleSummary(BaseModel):
    ensemble: str
    members: int
    succeeded: int
    member_mean: float | None


class GridReport(BaseModel):
    grid_id: int | None
    grid: str
    task: str
    metric: str
    goal: Literal["max", "min"]
    selection: str
    split: str
    seeds: list[int]
    ensemble_score: float | None
    teachers: list[EnsembleSummary]
    rows: list[ReportRow]
    note: str


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (0 for one value; None for none)."""
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def student_group(cell: str) -> str | None:
    """The group of a student cell (its key without the seed); None for teacher and generator cells."""
    return cell.rsplit("/seed=", 1)[0] if cell.startswith("student/") else None


def teacher_metric(key: str) -> str:
    """The metric under which a student logs its teacher ensemble's score."""
    return key.replace("test_", "teacher_test_", 1)


def grid_report(grid_id: int | None, name: str, task_name: str, runs: Sequence[Any]) -> GridReport:
    """The table of these runs (a grid's, or runs seen through synthetic cells: anything with the Run fields)."""
    task = TASKS[task_name]
    key, goal = task.primary_metric.key, task.primary_metric.goal
    teacher_key = teacher_metric(key)
    # Each run's latest metrics, built once (the tables below read them several times per run).
    summaries = {r.id: summary(r) for r in runs}
    groups: dict[str, list[Any]] = defaultdict(list)
    ensembles: dict[str, list[Any]] = defaultdict(list)
    for run in runs:
        cell = run.cell or ""
        if group := student_group(cell):
            groups[group].append(run)
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

    rows: list[ReportRow] = []
    for group, members in groups.items():
        done = [r for r in members if r.status == "succeeded" and key in summaries[r.id]]
        mean, std = mean_std([summaries[r.id][key] for r in done])
        h_values = [summaries[r.id]["h_hat"] for r in done if "h_hat" in summaries[r.id]]
        _, method, model = group.split("/", 2)
        gap = None
        if mean is not None and ensemble_score is not None:
            gap = ensemble_score - mean if goal == "max" else mean - ensemble_score
        rows.append(
            ReportRow(
                group=group,
                method=method,
                model=model,
                n=len(done),
                seeds_total=len(members),
                mean=mean,
                std=std,
                teacher=ensemble_score,
                gap=gap,
                gap_reduction_vs_kd=None,
                h_hat=statistics.fmean(h_values) if h_values else None,
            )
        )
    for row in rows:
        kd = kd_reference(rows, row.model)
        if kd is not None and kd.gap and row.gap is not None:
            row.gap_reduction_vs_kd = 100.0 * (kd.gap - row.gap) / kd.gap

    teachers = [
        EnsembleSummary(
            ensemble=ensemble,
            members=len(rs),
            succeeded=sum(r.status == "succeeded" for r in rs),
            member_mean=mean_std([summaries[r.id][key] for r in rs if key in summaries[r.id]])[0],
        )
        for ensemble, rs in ensembles.items()
    ]
    return GridReport(
        grid_id=grid_id,
        grid=name,
        task=task.name,
        metric=key,
        goal=goal,
        selection="last-epoch",
        split="test",
        seeds=sorted({r.spec.get("seed") for rs in groups.values() for r in rs}),
        ensemble_score=ensemble_score,
        teachers=teachers,
        rows=rows,
        note=NOTE,
    )


def kd_reference(rows: Sequence[ReportRow], model: str) -> ReportRow | None:
    """The plain KD row of this student model: KD at its defaults, else a sweep's T = 1 cell."""
    candidates = [
        r
        for r in rows
        if r.model == model
        and (r.method == KD_REFERENCE_METHOD or r.method.startswith(f"{KD_REFERENCE_METHOD}[temperature=1]"))
    ]
    return candidates[0] if candidates else None
