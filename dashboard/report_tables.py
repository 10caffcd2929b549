"""The grid report's statistics as pandas tables, shared by the grids page and the gap page (no Streamlit here,
so the shaping is testable on its own)."""

from __future__ import annotations

from typing import Any

import pandas as pd

COMPARISON_COLUMNS = ["comparison", "Δ (mean)", "95 % CI", "seeds better", "sign p", "t p", "McNemar p", ""]


def interval(low: float | None, high: float | None, spec: str = ".2f") -> str:
    return "–" if low is None or high is None else f"[{low:{spec}}, {high:{spec}}]"


def row_label(report: dict[str, Any], row: dict[str, Any]) -> str:
    """The row's method, with its ensemble where the report has several."""
    several = len({r.get("ensemble") for r in report["rows"] if r.get("ensemble")}) > 1
    return f"{row['method']} ({row['ensemble']})" if several and row.get("ensemble") else row["method"]


def comparisons_frame(report: dict[str, Any]) -> pd.DataFrame:
    """One line per paired comparison: row − baseline by seed, with its interval and tests."""
    labels = {r["group"]: row_label(report, r) for r in report["rows"]}
    several_models = len({r["model"] for r in report["rows"]}) > 1
    records = []
    for row in report["rows"]:
        for c in row.get("comparisons", []):
            name = f"{labels[row['group']]} − {labels.get(c['baseline_group'], c['baseline_group'])}"
            records.append(
                {
                    "comparison": f"{name} · {row['model']}" if several_models else name,
                    "Δ (mean)": c["mean"],
                    "95 % CI": interval(c["ci_low"], c["ci_high"], "+.2f"),
                    "seeds better": f"{c['better']}/{c['n']}",
                    "sign p": c["sign_p_value"],
                    "t p": c["t_p_value"],
                    "McNemar p": c["mcnemar_p_value"],
                    "": "" if c["significant"] else "n.s.",
                }
            )
    return pd.DataFrame(records, columns=COMPARISON_COLUMNS)


def reduction_interval(row: dict[str, Any]) -> str:
    return interval(row.get("gap_reduction_ci_low"), row.get("gap_reduction_ci_high"), "+.0f")


def layout_frame(table: dict[str, Any]) -> pd.DataFrame:
    """A supplement table of the API (`columns[0]` heads the row labels; cells are text) as a frame."""
    return pd.DataFrame(table["rows"], columns=table["columns"])
