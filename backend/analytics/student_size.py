"""Student size: error ± std against parameters and MACs per method, model, precision and width (the
supplement's Figure 1), with the teacher ensemble's error as the reference line."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from backend.analytics.common import metric_mean, rows_by_group
from backend.analytics.registry import register_view
from backend.analytics.scope import Scope, ScopeOut, Section, SectionHeader
from backend.models import Run


@dataclass(frozen=True)
class ErrorScale:
    label: str
    complement: bool  # the metric is an accuracy in %, so the error is 100 minus it


# How a primary metric reads as an error (lower is better), by metric rather than by task.
ERROR_SCALES = {
    "test_top1": ErrorScale("top-1 error (%)", complement=True),
    "test_angular_error": ErrorScale("angular error (°)", complement=False),
}


def error_scale(metric: str, goal: str) -> ErrorScale:
    """A metric not listed is its own error when lower is better, else read as a percentage (100 minus it)."""
    return ERROR_SCALES.get(metric) or ErrorScale(
        metric if goal == "min" else f"100 - {metric} (%)", complement=goal == "max"
    )


class SizePoint(BaseModel):
    group: str
    method: str
    model: str
    model_label: str
    precision: str
    width: float
    n: int
    error: float | None
    error_std: float | None
    params: float | None
    macs: float | None
    binary_macs: float | None


class SizeSection(SectionHeader):
    error_metric: str
    teacher_error: float | None
    points: list[SizePoint]


class StudentSizeView(BaseModel):
    scope: ScopeOut
    sections: list[SizeSection]


def is_binary(run: Run) -> bool:
    options = run.spec.get("model", {}).get("options") or {}
    return bool(options.get("binary")) or "binary" in run.model


@register_view("student-size", StudentSizeView)
def student_size(scope: Scope) -> StudentSizeView:
    """Error ± std against params and MACs per method, precision and width; the ensemble as reference."""
    return StudentSizeView(scope=scope.describe(), sections=[_section(s) for s in scope.sections])


def _section(section: Section) -> SizeSection:
    scale = error_scale(section.report.metric, section.report.goal)

    def as_error(value: float | None) -> float | None:
        if value is None:
            return None
        return 100.0 - value if scale.complement else value

    rows, points = rows_by_group(section), []
    for group, members in section.groups.items():
        row, first = rows[group], members[0]
        points.append(
            SizePoint(
                group=group,
                method=row.method,
                model=first.model,
                model_label=row.model,
                precision="binary" if is_binary(first) else "full",
                width=float(first.spec.get("model", {}).get("width", 1.0)),
                n=row.n,
                error=as_error(row.mean),
                error_std=row.std,
                params=metric_mean(members, "params"),
                macs=metric_mean(members, "macs"),
                binary_macs=metric_mean(members, "binary_macs"),
            )
        )
    points.sort(key=lambda p: (p.method, p.model, p.precision, p.width))
    return SizeSection(
        **section.header(),
        error_metric=scale.label,
        teacher_error=as_error(section.report.ensemble_score),
        points=points,
    )
