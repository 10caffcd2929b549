"""A grid report as Markdown, LaTeX or CSV text."""

from __future__ import annotations

import csv
import io

from backend.reports.grid_report import GridReport, ReportRow

HEADERS = ["method", "student", "n", "{metric} (mean ± std)", "gap", "gap red. vs KD", "Ĥ (%)"]
CSV_FIELDS = [
    "method",
    "model",
    "n",
    "seeds_total",
    "mean",
    "std",
    "teacher",
    "gap",
    "gap_reduction_vs_kd",
    "h_hat",
]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _cells(row: ReportRow) -> list[str]:
    mean = "–" if row.mean is None else f"{row.mean:.2f} ± {row.std:.2f}"
    reduction = "–" if row.gap_reduction_vs_kd is None else f"{row.gap_reduction_vs_kd:+.0f} %"
    return [
        row.method,
        row.model,
        f"{row.n}/{row.seeds_total}",
        mean,
        _fmt(row.gap),
        reduction,
        _fmt(row.h_hat, 1),
    ]


def _caption(report: GridReport) -> str:
    ensemble = "–" if report.ensemble_score is None else f"{report.ensemble_score:.2f}"
    return (
        f"{report.grid} ({report.task}): {report.metric} ({'higher' if report.goal == 'max' else 'lower'} "
        f"is better), teacher ensemble {ensemble}; seeds {report.seeds}; {report.selection} values on the "
        f"{report.split} split."
    )


def to_markdown(report: GridReport) -> str:
    headers = [h.format(metric=report.metric) for h in HEADERS]
    lines = [f"**{_caption(report)}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in report.rows]
    return "\n".join([*lines, "", report.note, ""])


def _latex_escape(text: str) -> str:
    for a, b in [
        ("\\", r"\textbackslash{}"),
        ("_", r"\_"),
        ("%", r"\%"),
        ("&", r"\&"),
        ("#", r"\#"),
        ("±", r"$\pm$"),
        ("Ĥ", r"$\hat{H}$"),
        ("–", "--"),
    ]:
        text = text.replace(a, b)
    return text


def to_latex(report: GridReport) -> str:
    headers = [_latex_escape(h.format(metric=report.metric)) for h in HEADERS]
    body = [" & ".join(_latex_escape(c) for c in _cells(row)) + r" \\" for row in report.rows]
    return "\n".join(
        [
            r"\begin{table}[t]",
            r"\centering",
            r"\begin{tabular}{llrrrrr}",
            r"\toprule",
            " & ".join(headers) + r" \\",
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            rf"\caption{{{_latex_escape(_caption(report))}}}",
            r"\end{table}",
            "",
        ]
    )


def to_csv(report: GridReport) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=["grid", "metric", "selection", *CSV_FIELDS], extrasaction="ignore"
    )
    writer.writeheader()
    for row in report.rows:
        writer.writerow(
            {"grid": report.grid, "metric": report.metric, "selection": report.selection, **row.model_dump()}
        )
    return out.getvalue()


RENDERERS = {"markdown": to_markdown, "latex": to_latex, "csv": to_csv}
MEDIA_TYPES = {"markdown": "text/markdown", "latex": "application/x-latex", "csv": "text/csv"}
