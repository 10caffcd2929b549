"""A grid report as Markdown, LaTeX or CSV text: the table of rows, then one line per paired comparison."""

from __future__ import annotations

import csv
import io
import json

from backend.reports.schema import Comparison, GridReport, ReportRow

HEADERS = [
    "method",
    "student",
    "teachers",
    "n",
    "{metric} (mean ± std)",
    "95 % CI",
    "gap [95 % CI]",
    "gap red. vs KD [95 % CI]",
    "Ĥ (%)",
]
COMPARISON_HEADERS = ["comparison", "Δ (mean)", "95 % CI", "seeds better", "sign p", "t p", "McNemar", ""]
CSV_FIELDS = [
    "method",
    "model",
    "ensemble",
    "generator",
    "n",
    "seeds_total",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "val_mean",
    "teacher",
    "gap",
    "gap_ci_low",
    "gap_ci_high",
    "kd_reference",
    "gap_reduction_vs_kd",
    "gap_reduction_ci_low",
    "gap_reduction_ci_high",
    "h_hat",
    "comparisons",
]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _interval(low: float | None, high: float | None, digits: int = 2, sign: str = "") -> str:
    return "–" if low is None or high is None else f"[{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def _p(value: float | None) -> str:
    return "–" if value is None else (f"{value:.3f}" if value >= 0.001 else f"{value:.1e}")


def row_label(report: GridReport, row: ReportRow) -> str:
    """The row's method, with its ensemble where the grid has several."""
    several = len({r.ensemble for r in report.rows if r.ensemble}) > 1
    return f"{row.method} ({row.ensemble})" if several and row.ensemble else row.method


def _cells(report: GridReport, row: ReportRow) -> list[str]:
    mean = "–" if row.mean is None else f"{row.mean:.2f} ± {row.std:.2f}"
    gap = "–" if row.gap is None else f"{row.gap:.2f} {_interval(row.gap_ci_low, row.gap_ci_high)}"
    reduction = "–"
    if row.gap_reduction_vs_kd is not None:
        ci = _interval(row.gap_reduction_ci_low, row.gap_reduction_ci_high, 0, "+")
        reduction = f"{row.gap_reduction_vs_kd:+.0f} % {ci}"
    teachers = row.ensemble or "–"
    if row.generator:
        teachers += f" + {row.generator}"
    return [
        row_label(report, row),
        row.model,
        teachers,
        f"{row.n}/{row.seeds_total}",
        mean,
        _interval(row.ci_low, row.ci_high),
        gap,
        reduction,
        _fmt(row.h_hat, 1),
    ]


def _baseline_label(report: GridReport, comparison: Comparison) -> str:
    other = next((r for r in report.rows if r.group == comparison.baseline_group), None)
    return row_label(report, other) if other else comparison.baseline_group


def comparison_line(report: GridReport, row: ReportRow, comparison: Comparison) -> str:
    """One sentence, e.g. 'xcl-mix − kd[temperature=4]: +2.10 points, 95 % CI [+0.80, +3.40], 8/8 seeds better,
    sign-test p = 0.008'."""
    unit = "points" if report.goal == "max" else report.metric.removeprefix("test_")
    ci = _interval(comparison.ci_low, comparison.ci_high, sign="+")
    text = (
        f"{row_label(report, row)} − {_baseline_label(report, comparison)}: {comparison.mean:+.2f} {unit}, "
        f"95 % CI {ci}, {comparison.better}/{comparison.n} seeds better, sign-test p = "
        f"{_p(comparison.sign_p_value)}"
    )
    if comparison.mcnemar_p_value is not None:
        text += f", McNemar p = {_p(comparison.mcnemar_p_value)}"
    return text + ("" if comparison.significant else " (not significant: the interval covers 0)")


def _comparison_cells(report: GridReport, row: ReportRow, c: Comparison) -> list[str]:
    mcnemar = (
        "–"
        if c.mcnemar_p_value is None
        else f"{c.mcnemar_only_row}:{c.mcnemar_only_baseline}, p = {_p(c.mcnemar_p_value)}"
    )
    return [
        f"{row_label(report, row)} − {_baseline_label(report, c)}",
        f"{c.mean:+.2f}",
        _interval(c.ci_low, c.ci_high, sign="+"),
        f"{c.better}/{c.n}",
        _p(c.sign_p_value),
        _p(c.t_p_value),
        mcnemar,
        "" if c.significant else "n.s.",
    ]


def _comparisons(report: GridReport) -> list[tuple[ReportRow, Comparison]]:
    return [(row, c) for row in report.rows for c in row.comparisons]


def caption(report: GridReport) -> str:
    if report.ensemble_score is not None:
        ensemble = f"teacher ensemble {report.ensemble_score:.2f}"
    else:
        scores = [f"{t.ensemble} {_fmt(t.score)}" for t in report.teachers]
        ensemble = "teacher ensembles " + (", ".join(scores) if scores else "–")
    return (
        f"{report.grid} ({report.task}): {report.metric} ({'higher' if report.goal == 'max' else 'lower'} "
        f"is better), {ensemble}; seeds {report.seeds}; {report.selection} values on the {report.split} split."
    )


def _kd_line(report: GridReport) -> list[str]:
    return [f"KD reference (chosen on validation, never on test): {report.kd_selection}.", ""] * bool(
        report.kd_selection
    )


def to_markdown(report: GridReport) -> str:
    headers = [h.format(metric=report.metric) for h in HEADERS]
    lines = [f"**{caption(report)}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cells(report, row)) + " |" for row in report.rows]
    pairs = _comparisons(report)
    if pairs:
        lines += ["", f"Paired differences by seed (baselines: {', '.join(report.baselines)}):", ""]
        lines += ["| " + " | ".join(COMPARISON_HEADERS) + " |", "|" + "---|" * len(COMPARISON_HEADERS)]
        lines += ["| " + " | ".join(_comparison_cells(report, row, c)) + " |" for row, c in pairs]
    return "\n".join([*lines, "", *_kd_line(report), report.note, ""])


def _latex_escape(text: str) -> str:
    for a, b in [
        ("\\", r"\textbackslash{}"),
        ("_", r"\_"),
        ("%", r"\%"),
        ("&", r"\&"),
        ("#", r"\#"),
        ("±", r"$\pm$"),
        ("Ĥ", r"$\hat{H}$"),
        ("Δ", r"$\Delta$"),
        ("−", "--"),
        ("–", "--"),
    ]:
        text = text.replace(a, b)
    return text


def _latex_table(headers: list[str], rows: list[list[str]], align: str, caption: str) -> list[str]:
    return [
        r"\begin{table}[t]",
        r"\centering",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(_latex_escape(h) for h in headers) + r" \\",
        r"\midrule",
        *(" & ".join(_latex_escape(c) for c in row) + r" \\" for row in rows),
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{_latex_escape(caption)}}}",
        r"\end{table}",
    ]


def to_latex(report: GridReport) -> str:
    headers = [h.format(metric=report.metric) for h in HEADERS]
    lines = _latex_table(
        headers, [_cells(report, row) for row in report.rows], "lll" + "r" * 6, caption(report)
    )
    pairs = _comparisons(report)
    if pairs:
        title = (
            f"Paired differences by seed, {report.metric} ({report.grid}); n.s.: the 95 % interval covers 0. "
            + " ".join(_kd_line(report))
        )
        rows = [_comparison_cells(report, row, c) for row, c in pairs]
        lines += ["", *_latex_table(COMPARISON_HEADERS, rows, "l" + "r" * 7, title)]
    return "\n".join([*lines, ""])


def to_csv(report: GridReport) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=["grid", "metric", "selection", *CSV_FIELDS], extrasaction="ignore"
    )
    writer.writeheader()
    for row in report.rows:
        fields = row.model_dump()
        fields["comparisons"] = json.dumps(fields["comparisons"])
        writer.writerow(
            {"grid": report.grid, "metric": report.metric, "selection": report.selection, **fields}
        )
    return out.getvalue()


def to_summary(report: GridReport) -> str:
    """The caption, how the KD reference was chosen, then one line per paired comparison."""
    lines = [caption(report), *_kd_line(report)[:1]]
    lines += [comparison_line(report, row, c) for row, c in _comparisons(report)]
    return "\n".join([*lines, ""])


RENDERERS = {"markdown": to_markdown, "latex": to_latex, "csv": to_csv, "summary": to_summary}
MEDIA_TYPES = {
    "markdown": "text/markdown",
    "latex": "application/x-latex",
    "csv": "text/csv",
    "summary": "text/plain",
}
