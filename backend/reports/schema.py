"""The grid report's shape (API JSON, renderers and analytics views read it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from backend.vocabulary import BASELINE_METHOD, KD_REFERENCE_METHOD

# The rows every other row is compared with by default: the KD reference (chosen on validation) and ERM.
DEFAULT_BASELINES = (KD_REFERENCE_METHOD, BASELINE_METHOD)


class Comparison(BaseModel):
    """Per-seed differences row − baseline over the seeds both have (metric units; `better` counts the seeds
    where the row is better, i.e. higher accuracy or lower error)."""

    baseline: str
    baseline_group: str
    n: int
    mean: float
    ci_low: float | None
    ci_high: float | None
    t_p_value: float | None
    better: int
    worse: int
    sign_p_value: float
    significant: bool
    mcnemar_only_row: int | None = None
    mcnemar_only_baseline: int | None = None
    mcnemar_p_value: float | None = None
    mcnemar_seeds: int = 0


class ReportRow(BaseModel):
    group: str
    method: str  # the row's label: the method (or the grid's label for it) with its swept parameters
    method_name: str | None = None  # the runs' method, e.g. 'kd' for a row labelled 'kd-cutmix-teacher'
    model: str
    ensemble: str | None = None
    generator: str | None = None
    n: int
    seeds_total: int
    values: dict[int, float] = {}  # seed -> primary metric (succeeded runs)
    mean: float | None
    std: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    val_mean: float | None = None  # mean of the validation-split metric, where the runs logged one
    teacher: float | None
    gap: float | None
    gap_ci_low: float | None = None
    gap_ci_high: float | None = None
    kd_reference: str | None = None  # the group this row's KD comparison and gap reduction use
    gap_reduction_vs_kd: float | None
    gap_reduction_ci_low: float | None = None
    gap_reduction_ci_high: float | None = None
    h_hat: float | None
    comparisons: list[Comparison] = []


class EnsembleSummary(BaseModel):
    ensemble: str
    members: int
    succeeded: int
    member_mean: float | None
    score: float | None = None  # the ensemble's own score, as its students measured it


class GridReport(BaseModel):
    grid_id: int | None
    grid: str
    task: str
    metric: str
    goal: Literal["max", "min"]
    selection: str
    split: str
    seeds: list[int]
    ensemble_score: float | None  # the teacher ensemble's score when the grid has exactly one
    teachers: list[EnsembleSummary]
    rows: list[ReportRow]
    baselines: list[str] = list(DEFAULT_BASELINES)
    val_metric: str = ""
    kd_selection: str = ""
    note: str


class LayoutTable(BaseModel):
    """One of the supplement's tables filled from a grid's runs: `columns[0]` heads the row labels; cells are
    text (mean ± std, '[low, high]' 95 % intervals, 'n.s.', '–' for a cell not run); columns headed 'paper …'
    hold the supplement's printed numbers."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = []
    rows_with_runs: int = 0  # rows with at least one succeeded run


class SupplementTables(BaseModel):
    """A grid's report laid out as the supplement's tables (empty `tables` for a grid without a layout)."""

    grid_id: int | None
    grid: str
    layout: str | None  # the built-in grid whose layout was used
    caption: str
    tables: list[LayoutTable]
    note: str
