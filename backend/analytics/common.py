"""Arithmetic and lookups several views share."""

from __future__ import annotations

import statistics

from backend.analytics.scope import Scope, Section
from backend.models import Run
from backend.reports.grid_report import ReportRow
from backend.store.runs import summary


def succeeded(members: list[Run]) -> list[Run]:
    return [r for r in members if r.status == "succeeded"]


def metric_mean(members: list[Run], key: str) -> float | None:
    """Mean of a metric over the members that succeeded and logged it."""
    values = [summary(r)[key] for r in succeeded(members) if key in summary(r)]
    return statistics.fmean(values) if values else None


def rows_by_group(section: Section) -> dict[str, ReportRow]:
    return {row.group: row for row in section.report.rows}


def ensemble_name(scope: Scope, run: Run) -> str | None:
    """The ensemble a student distils from, from its first teacher's cell (teacher/<ensemble>/<k>)."""
    if not run.teacher_links:
        return None
    cell = scope.cells.get(run.teacher_links[0].teacher_id, "")
    return cell.split("/")[1] if cell.startswith("teacher/") else f"run {run.teacher_links[0].teacher_id}"
