"""Entropy: one point per student group, mean Ĥ against mean ± std of the primary metric, placed in the study it
belongs to (a parameter sweep, a teacher ablation, or the methods side by side)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel

from backend.analytics.common import ensemble_name, metric_mean, rows_by_group, succeeded
from backend.analytics.labels import fmt, method_params
from backend.analytics.registry import register_view
from backend.analytics.scope import Scope, ScopeOut, Section, SectionHeader
from backend.reports.grid_report import mean_std, teacher_metric
from backend.store.runs import summary
from backend.vocabulary import transfer_set

# How a swept parameter is written on a chart.
SYMBOLS = {"temperature": "T", "epsilon": "ε", "alpha": "α", "mix_ratio": "r", "gan_fraction": "f"}


class EntropyRun(BaseModel):
    run_id: int
    seed: int | None
    h_hat: float | None
    value: float | None


class EntropyPoint(BaseModel):
    group: str
    method: str
    method_label: str
    model: str
    study: str
    label: str
    params: dict[str, Any]
    swept: dict[str, Any]
    ensemble: str | None
    teacher_score: float | None
    transfer_set: str | None
    n: int
    h_hat: float | None
    h_hat_std: float | None
    mean: float | None
    std: float | None
    runs: list[EntropyRun]


class EntropySection(SectionHeader):
    points: list[EntropyPoint]


class EntropyView(BaseModel):
    scope: ScopeOut
    sections: list[EntropySection]


@register_view("entropy", EntropyView)
def entropy(scope: Scope) -> EntropyView:
    """Ĥ against the primary metric per student group, with swept parameters and each run's own Ĥ."""
    return EntropyView(
        scope=scope.describe(),
        sections=[
            EntropySection(**section.header(), points=_points(scope, section)) for section in scope.sections
        ],
    )


def _points(scope: Scope, section: Section) -> list[EntropyPoint]:
    rows, key = rows_by_group(section), section.report.metric
    params = {group: method_params(members[0]) for group, members in section.groups.items()}
    teachers = {group: ensemble_name(scope, members[0]) for group, members in section.groups.items()}
    swept = _swept(section, params)
    teacher_study = _teacher_studies(section, teachers)
    points = []
    for group, members in section.groups.items():
        row, method = rows[group], members[0].method
        group_swept = {k: params[group].get(k) for k in swept.get(method, [])}
        if group_swept:
            study = f"{method}: " + ", ".join(sorted(group_swept))
            label = ", ".join(f"{SYMBOLS.get(k, k)}={fmt(v)}" for k, v in sorted(group_swept.items()))
        elif method in teacher_study:
            study, label = f"{method}: teacher", teachers[group] or "no teacher"
        else:
            study, label = "methods", row.method
        done = succeeded(members)
        h_values = [summary(r)["h_hat"] for r in done if "h_hat" in summary(r)]
        points.append(
            EntropyPoint(
                group=group,
                method=method,
                method_label=row.method,
                model=row.model,
                study=study,
                label=label,
                params=params[group],
                swept=group_swept,
                ensemble=teachers[group],
                teacher_score=metric_mean(members, teacher_metric(key)),
                transfer_set=transfer_set(method),
                n=row.n,
                h_hat=row.h_hat,
                h_hat_std=mean_std(h_values)[1],
                mean=row.mean,
                std=row.std,
                runs=[
                    EntropyRun(
                        run_id=r.id,
                        seed=r.spec.get("seed"),
                        h_hat=summary(r).get("h_hat"),
                        value=summary(r).get(key),
                    )
                    for r in done
                ],
            )
        )
    return points


def _swept(section: Section, params: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Per method, the parameters whose value differs between its groups (the sweep's axes)."""
    values: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for group, members in section.groups.items():
        for k, v in params[group].items():
            values[members[0].method][k].add(repr(v))
    return {method: sorted(k for k, seen in keys.items() if len(seen) > 1) for method, keys in values.items()}


def _teacher_studies(section: Section, teachers: dict[str, str | None]) -> set[str]:
    """Methods whose groups distil from different ensembles (the supplement's teacher ablation)."""
    seen: dict[str, set[str | None]] = defaultdict(set)
    for group, members in section.groups.items():
        seen[members[0].method].add(teachers[group])
    return {method for method, ensembles in seen.items() if len(ensembles) > 1}
