"""The paper's table for a grid: per student group (the cell key without its seed, split by teacher ensemble
and generator so students of different teachers are never pooled), mean ± std and a 95 % t-interval over seeds,
the gap to the row's own teacher ensemble, paired comparisons with baselines and the gap reduction vs KD
(`backend.reports.comparisons`), and Ĥ."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from backend.reports.comparisons import (
    PredictionsLoader,
    add_comparisons,
    kd_selection_note,
    seed_gaps,
)
from backend.reports.schema import DEFAULT_BASELINES, Comparison, EnsembleSummary, GridReport, ReportRow
from backend.store.runs import summary
from xclab import stats
from xclab.catalog import TASKS

__all__ = ["Comparison", "EnsembleSummary", "GridReport", "ReportRow", "grid_report", "group_students"]


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


def val_metric(key: str) -> str:
    """The metric under which a run logs the primary metric on its validation split."""
    return key.replace("test_", "val_", 1)


def _ensemble_of(run: Any, cells: dict[int, str]) -> str | None:
    ids = [link.teacher_id for link in run.teacher_links]
    if not ids:
        return None
    cell = cells.get(ids[0], "")
    return cell.split("/")[1] if cell.startswith("teacher/") else "runs " + "+".join(map(str, sorted(ids)))


def _generator_of(run: Any, cells: dict[int, str]) -> str | None:
    gen_id = getattr(run, "generator_run_id", None)
    if gen_id is None:
        return None
    cell = cells.get(gen_id, "")
    return cell.split("/", 1)[1] if cell.startswith("generator/") else f"run {gen_id}"


def group_students(runs: Sequence[Any]) -> dict[str, list[Any]]:
    """Student runs by row: the cell group, split further by (ensemble, generator) where one group mixes them
    (runs outside grids, or grids stored before cell keys named their ensemble)."""
    cells = {r.id: r.cell or "" for r in runs}
    by_group: dict[str, list[Any]] = defaultdict(list)
    for run in runs:
        if group := student_group(run.cell or ""):
            by_group[group].append(run)
    rows: dict[str, list[Any]] = {}
    for group, members in by_group.items():
        sources = {(_ensemble_of(r, cells), _generator_of(r, cells)) for r in members}
        if len(sources) == 1:
            rows[group] = members
            continue
        for run in members:
            ens, gen = _ensemble_of(run, cells), _generator_of(run, cells)
            suffix = "".join(f" | {k}={v}" for k, v in (("teachers", ens), ("generator", gen)) if v)
            rows.setdefault(group + suffix, []).append(run)
    return rows


def grid_report(
    grid_id: int | None,
    name: str,
    task_name: str,
    runs: Sequence[Any],
    baselines: Sequence[str] = DEFAULT_BASELINES,
    predictions: PredictionsLoader | None = None,
) -> GridReport:
    """The table of these runs (a grid's, or runs seen through synthetic cells: anything with the Run fields)."""
    task = TASKS[task_name]
    key, goal = task.primary_metric.key, task.primary_metric.goal
    teacher_key, val_key = teacher_metric(key), val_metric(key)
    summaries = {r.id: summary(r) for r in runs}  # each run's latest metrics, read several times below
    cells = {r.id: r.cell or "" for r in runs}
    groups = group_students(runs)
    ensembles: dict[str, list[Any]] = defaultdict(list)
    for run in runs:
        if (run.cell or "").startswith("teacher/"):
            ensembles[run.cell.split("/")[1]].append(run)

    # Each ensemble's own score, as every student distilled from it measured it (identical across them).
    scores: dict[str, list[float]] = defaultdict(list)
    for members in groups.values():
        for r in members:
            ens = _ensemble_of(r, cells)
            if ens and r.status == "succeeded" and teacher_key in summaries[r.id]:
                scores[ens].append(summaries[r.id][teacher_key])
    ensemble_scores = {ens: statistics.fmean(v) for ens, v in scores.items()}
    only_score = next(iter(ensemble_scores.values())) if len(ensemble_scores) == 1 else None

    rows: list[ReportRow] = []
    for group, members in groups.items():
        done = [r for r in members if r.status == "succeeded" and key in summaries[r.id]]
        # Every succeeded run counts in the summary; pairing by seed keeps one run per seed (the latest).
        values = {int(r.spec.get("seed", 0)): summaries[r.id][key] for r in sorted(done, key=lambda r: r.id)}
        summ = stats.summarize([summaries[r.id][key] for r in done])
        val_values = [summaries[r.id][val_key] for r in done if val_key in summaries[r.id]]
        h_values = [summaries[r.id]["h_hat"] for r in done if "h_hat" in summaries[r.id]]
        method, model = group.removeprefix("student/").split(" | ")[0].split("/", 1)
        ensemble = _ensemble_of(members[0], cells)
        teacher = ensemble_scores.get(ensemble) if ensemble else only_score
        row = ReportRow(
            group=group,
            method=method,
            method_name=(members[0].spec.get("method") or {}).get("name"),
            model=model,
            ensemble=ensemble,
            generator=_generator_of(members[0], cells),
            n=len(done),
            seeds_total=len(members),
            values=values,
            mean=summ.mean if summ else None,
            std=summ.std if summ else None,
            ci_low=summ.ci_low if summ else None,
            ci_high=summ.ci_high if summ else None,
            val_mean=statistics.fmean(val_values) if len(val_values) == len(done) and done else None,
            teacher=teacher,
            gap=None,
            gap_reduction_vs_kd=None,
            h_hat=statistics.fmean(h_values) if h_values else None,
        )
        if gaps := stats.summarize(list(seed_gaps(row, goal).values())):  # None without teacher or values
            row.gap, row.gap_ci_low, row.gap_ci_high = gaps.mean, gaps.ci_low, gaps.ci_high
        rows.append(row)
    by_seed = {g: {int(r.spec.get("seed", 0)): r for r in members} for g, members in groups.items()}
    add_comparisons(rows, goal, baselines, by_seed, predictions, task.kind == "classification")

    teachers = [
        EnsembleSummary(
            ensemble=ensemble,
            members=len(rs),
            succeeded=sum(r.status == "succeeded" for r in rs),
            member_mean=mean_std([summaries[r.id][key] for r in rs if key in summaries[r.id]])[0],
            score=ensemble_scores.get(ensemble),
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
        seeds=sorted({int(r.spec.get("seed", 0)) for rs in groups.values() for r in rs}),
        ensemble_score=only_score,
        teachers=teachers,
        rows=rows,
        baselines=list(baselines),
        val_metric=val_key,
        kd_selection=kd_selection_note(rows, val_key, goal),
        note=_note(val_key, goal),
    )


def _note(val_key: str, goal: str) -> str:
    better = "row − baseline > 0" if goal == "max" else "row − baseline < 0"
    return (
        "Test-split metrics of the last epoch (no selection on the test split); mean ± sample std and 95 % "
        "t-interval over the seeds that succeeded (n). Rows are split by teacher ensemble and generator; each "
        "gap is against the row's own ensemble (teacher ensemble minus student for accuracy, student minus "
        "ensemble for errors). Paired comparisons: per-seed differences row − baseline over common seeds, "
        f"95 % t-interval, paired t-test and exact sign test; a row is better where {better}; 'n.s.' marks an "
        "interval that covers 0. McNemar (exact) pools the stored per-sample test predictions of all common "
        f"seeds. KD reference: the KD row with the best mean {val_key} on the validation split (never chosen on "
        "the test split). Gap reduction vs KD = (gap_KD − gap) / gap_KD, shown only where the KD gap's interval "
        "lies above 0, with a 95 % percentile bootstrap interval over seeds."
    )
