"""Gap: per student group, the teacher ensemble's score, the student's mean ± std, the gap and the gap
reduction vs KD (the grid report's rows), with the KD row each was measured against and its ensemble."""

from __future__ import annotations

from pydantic import BaseModel

from backend.analytics.common import ensemble_name
from backend.analytics.registry import register_view
from backend.analytics.scope import Scope, ScopeOut
from backend.reports.grid_report import GridReport, ReportRow, kd_reference


class GapRow(ReportRow):
    kd_group: str | None
    ensemble: str | None


class GapSection(GridReport):
    rows: list[GapRow]  # type: ignore[assignment]  # the report's rows, each with its KD row and ensemble


class GapView(BaseModel):
    scope: ScopeOut
    sections: list[GapSection]


@register_view("gap", GapView)
def gap(scope: Scope) -> GapView:
    """Per student method group: teacher ensemble score, student mean ± std, gap and gap reduction vs KD."""
    sections = []
    for section in scope.sections:
        report = section.report
        kd_groups = {row.model: _kd_group(report.rows, row.model) for row in report.rows}
        rows = [
            GapRow(
                **row.model_dump(),
                kd_group=kd_groups[row.model],
                ensemble=ensemble_name(scope, section.groups[row.group][0]),
            )
            for row in report.rows
        ]
        sections.append(GapSection(**{**report.model_dump(), "rows": rows}))
    return GapView(scope=scope.describe(), sections=sections)


def _kd_group(rows: list[ReportRow], model: str) -> str | None:
    kd = kd_reference(rows, model)
    return kd.group if kd else None
