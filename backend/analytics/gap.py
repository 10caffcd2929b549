"""Gap: per student group, its own teacher ensemble's score, the student's mean ± std with its interval, the gap
with its interval, the paired comparisons and the gap reduction vs the KD reference (the grid report's rows);
for a built-in grid that reproduces one of the supplement's tables, that table too."""

from __future__ import annotations

from pydantic import BaseModel

from backend.analytics.registry import register_view
from backend.analytics.scope import Scope, ScopeOut
from backend.reports.grid_report import GridReport, ReportRow
from backend.reports.schema import LayoutTable
from backend.reports.supplement import supplement_tables


class GapRow(ReportRow):
    kd_group: str | None  # the KD reference row (chosen on validation), as before under this name


class GapSection(GridReport):
    rows: list[GapRow]  # type: ignore[assignment]  # the report's rows, each with its KD reference row
    tables: list[LayoutTable] = []  # the supplement's tables, for a built-in grid that reproduces them


class GapView(BaseModel):
    scope: ScopeOut
    sections: list[GapSection]


@register_view("gap", GapView)
def gap(scope: Scope) -> GapView:
    """Per student group: teacher ensemble score, student mean ± std and CI, gap, comparisons, gap reduction."""
    sections = []
    for section in scope.sections:
        report = section.report
        rows = [GapRow(**row.model_dump(), kd_group=row.kd_reference) for row in report.rows]
        tables = supplement_tables(report, section.runs).tables if section.grid_id is not None else []
        sections.append(GapSection(**{**report.model_dump(), "rows": rows, "tables": tables}))
    return GapView(scope=scope.describe(), sections=sections)
