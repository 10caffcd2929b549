"""Table layouts: a grid report re-arranged as one of the supplement's tables. A layout names its rows (each row
picks report rows by the runs' method, parameters, teacher ensemble and student model) and its columns (each a
function of the picked rows: mean ± std over seeds, Ĥ, the gap, a paired difference with its 95 % interval and
an 'n.s.' mark, the gap reduction vs KD, a secondary metric, or the paper's published number). Every statistic
comes from the grid report (`backend.reports.grid_report`, `backend.reports.comparisons`); cells never run
read '–'."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.reports.comparisons import compare
from backend.reports.schema import GridReport, LayoutTable, ReportRow
from backend.store.runs import summary
from backend.vocabulary import KD_REFERENCE_METHOD

DASH = "–"


@dataclass(frozen=True)
class Pick:
    """Which report row a layout row reads: the one whose runs have this method (and these parameters), teacher
    ensemble and student model (None: any)."""

    method: str
    params: Mapping[str, float | str] = field(default_factory=dict)
    ensemble: str | None = None
    model: str | None = None
    width: float | None = None
    binary: bool | None = None


@dataclass(frozen=True)
class RowSpec:
    label: str
    picks: Mapping[str, Pick]
    paper: Mapping[str, str] = field(default_factory=dict)  # column key -> the paper's printed value


@dataclass
class Ctx:
    """What a column sees of one layout row."""

    report: GridReport
    spec: RowSpec
    rows: dict[str, ReportRow | None]
    runs: dict[str, list[Any]]  # report group -> its runs

    def row(self, pick: str) -> ReportRow | None:
        return self.rows.get(pick)

    def by_group(self, group: str | None) -> ReportRow | None:
        return next((r for r in self.report.rows if r.group == group), None)


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Ctx], str]


@dataclass(frozen=True)
class TableSpec:
    key: str
    title: str
    rows: Sequence[RowSpec]
    label_header: str
    columns: Sequence[Column]
    notes: Sequence[str] = ()


# ------------------------------------------------------------ cells


def fmt(value: float | None, digits: int = 2, sign: str = "") -> str:
    return DASH if value is None else f"{value:{sign}.{digits}f}"


def _seeds_note(row: ReportRow) -> str:
    return "" if row.n == row.seeds_total else f" (n={row.n}/{row.seeds_total})"


def mean_cell(pick: str, complement: bool = False) -> Callable[[Ctx], str]:
    """Mean ± sample std over seeds (as an error, 100 − accuracy, with complement)."""

    def cell(ctx: Ctx) -> str:
        row = ctx.row(pick)
        if row is None or row.mean is None:
            return DASH
        mean = 100.0 - row.mean if complement else row.mean
        return f"{mean:.2f} ± {row.std or 0.0:.2f}{_seeds_note(row)}"

    return cell


def metric_cell(
    pick: str, key: str, digits: int = 2, spread: bool = True, scale: float = 1.0
) -> Callable[[Ctx], str]:
    """A secondary metric the runs logged (e.g. test_top5, an ImageNetV2 top-1), times `scale`: mean ± std over
    the row's succeeded runs; '–' where none logged it."""

    def cell(ctx: Ctx) -> str:
        row = ctx.row(pick)
        if row is None:
            return DASH
        values = [
            s[key] * scale
            for r in ctx.runs.get(row.group, [])
            if r.status == "succeeded" and key in (s := summary(r))
        ]
        if not values:
            return DASH
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        mean = statistics.fmean(values)
        return f"{mean:.{digits}f} ± {std:.{digits}f}" if spread else f"{mean:.{digits}f}"

    return cell


def h_hat_cell(pick: str) -> Callable[[Ctx], str]:
    return lambda ctx: fmt(getattr(ctx.row(pick), "h_hat", None), 1)


def teacher_cell(*picks: str) -> Callable[[Ctx], str]:
    """The teacher ensemble's own score, as the first picked row that has one measured it."""

    def cell(ctx: Ctx) -> str:
        scores = [r.teacher for p in picks if (r := ctx.row(p)) is not None and r.teacher is not None]
        return fmt(scores[0] if scores else None)

    return cell


def _paired_text(row: ReportRow | None, other: ReportRow | None, goal: str) -> str:
    if row is None or other is None or row is other:
        return DASH
    c = compare(row, other, other.method, goal)
    if c is None or c.ci_low is None or c.ci_high is None:
        return DASH if c is None else f"{c.mean:+.2f} (n={c.n})"
    mark = "" if c.significant else " n.s."
    return f"{c.mean:+.2f} [{c.ci_low:+.2f}, {c.ci_high:+.2f}] {c.better}/{c.n}{mark}"


def paired_cell(pick: str, baseline: str) -> Callable[[Ctx], str]:
    """row − baseline seed by seed over common seeds: mean [95 % t-interval], seeds better / n, 'n.s.' where
    the interval covers 0."""
    return lambda ctx: _paired_text(ctx.row(pick), ctx.row(baseline), ctx.report.goal)


def paired_kd_reference_cell(pick: str) -> Callable[[Ctx], str]:
    """row − the KD reference the report chose for it on the validation split."""

    def cell(ctx: Ctx) -> str:
        row = ctx.row(pick)
        return _paired_text(row, ctx.by_group(row.kd_reference if row else None), ctx.report.goal)

    return cell


def gap_cell(pick: str) -> Callable[[Ctx], str]:
    """The gap to the row's own ensemble [95 % CI], and its reduction vs KD where the report has one."""

    def cell(ctx: Ctx) -> str:
        row = ctx.row(pick)
        if row is None or row.gap is None:
            return DASH
        text = f"{row.gap:.2f}"
        if row.gap_ci_low is not None and row.gap_ci_high is not None:
            text += f" [{row.gap_ci_low:.2f}, {row.gap_ci_high:.2f}]"
        if row.gap_reduction_vs_kd is not None:
            text += f" ({-row.gap_reduction_vs_kd:+.0f} %)"
        return text

    return cell


def reduction_cell(pick: str) -> Callable[[Ctx], str]:
    """Gap reduction vs the KD reference, % [95 % bootstrap interval] ('–' where the KD gap is not real)."""

    def cell(ctx: Ctx) -> str:
        row = ctx.row(pick)
        if row is None or row.gap_reduction_vs_kd is None:
            return DASH
        text = f"{row.gap_reduction_vs_kd:+.0f} %"
        if row.gap_reduction_ci_low is not None and row.gap_reduction_ci_high is not None:
            text += f" [{row.gap_reduction_ci_low:+.0f}, {row.gap_reduction_ci_high:+.0f}]"
        return text

    return cell


def paper_cell(key: str) -> Callable[[Ctx], str]:
    return lambda ctx: ctx.spec.paper.get(key, DASH)


# ------------------------------------------------------------ building


def _matches(pick: Pick, row: ReportRow, run: Any) -> bool:
    spec = run.spec or {}
    method, model = spec.get("method") or {}, spec.get("model") or {}
    if method.get("name") != pick.method or (pick.ensemble is not None and row.ensemble != pick.ensemble):
        return False
    for key, want in pick.params.items():
        have = method.get(key)
        if have is None or (float(have) != float(want) if isinstance(want, float) else have != want):
            return False
    if pick.model is not None and model.get("name") != pick.model:
        return False
    if pick.width is not None and float(model.get("width", 1.0)) != pick.width:
        return False
    binary = bool((model.get("options") or {}).get("binary")) or "binary" in str(model.get("name", ""))
    return pick.binary is None or binary == pick.binary


def pick_row(pick: Pick, report: GridReport, runs: Mapping[str, list[Any]]) -> ReportRow | None:
    """The first report row (grid order) whose runs match the pick."""
    for row in report.rows:
        members = runs.get(row.group) or []
        if members and _matches(pick, row, members[0]):
            return row
    return None


def _row_key(report: GridReport, group: str) -> tuple[str, str | None] | None:
    row = next((r for r in report.rows if r.group == group), None)
    return None if row is None else (row.model, row.ensemble)


def build_table(spec: TableSpec, report: GridReport, runs: Mapping[str, list[Any]]) -> LayoutTable:
    """The table's cells; a row whose picks found nothing keeps its label and reads '–' (not run)."""
    references = {r.kd_reference for r in report.rows if r.kd_reference and r.kd_reference != r.group}
    # Mark a reference only where it was chosen among several KD rows (of its student model and ensemble).
    kd = [(r.model, r.ensemble) for r in report.rows if r.method_name == KD_REFERENCE_METHOD]
    chosen = {r.group for r in report.rows if r.val_mean is not None}  # chosen on validation, not by default
    references = {
        g for g in references & chosen if (k := _row_key(report, g)) is not None and kd.count(k) > 1
    }
    body, found = [], 0
    for row_spec in spec.rows:
        picked = {name: pick_row(p, report, runs) for name, p in row_spec.picks.items()}
        found += any(r is not None and r.n for r in picked.values())
        ctx = Ctx(report, row_spec, picked, dict(runs))
        label = row_spec.label
        own = next(iter(picked.values()), None)  # the row's own pick comes first; the rest are baselines
        if own is not None and own.group in references:
            label += " †"
        body.append([label, *(col.cell(ctx) for col in spec.columns)])
    notes = list(spec.notes)
    if references:
        notes.append(
            "† the KD reference: the KD row with the best mean validation metric (never chosen on test)."
        )
    return LayoutTable(
        key=spec.key,
        title=spec.title,
        columns=[spec.label_header, *(c.header for c in spec.columns)],
        rows=body,
        notes=notes,
        rows_with_runs=found,
    )
