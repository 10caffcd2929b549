"""The supplement's tables for the built-in grids that reproduce them (teacher ablation: Table 2; label smoothing:
Table 3; temperature: Tables 4 and 5; student size: Figure 1a/1b as tables; ImageNet: Table 1 with ImageNetV2;
the main CIFAR-100 method tables), each with the paper's printed numbers beside ours in columns headed 'paper'.
The paper's numbers are CIFAR-100 ResNet-18 (ImageNet ResNet-50 for Table 1); on the digits grids only the
pattern is comparable, not the values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backend.reports import supplement_specs as specs
from backend.reports.grid_report import GridReport, group_students
from backend.reports.layouts import TableSpec, build_table
from backend.reports.render import caption
from backend.reports.schema import LayoutTable, SupplementTables

# Built-in grid name -> its tables. Submitting `builtin:NAME` keeps the name, so its report finds the layout.
LAYOUTS: dict[str, list[TableSpec]] = {
    "cifar100-teacher-ablation": [specs.teacher_ablation(specs.CIFAR_TEACHERS)],
    "digits-teacher-ablation": [specs.teacher_ablation(specs.DIGITS_TEACHERS)],
    "cifar100-label-smoothing": [specs.label_smoothing()],
    "digits-label-smoothing": [specs.label_smoothing()],
    "cifar100-temperature": [specs.kd_temperature(), specs.xcl_temperature()],
    "digits-temperature": [specs.kd_temperature(), specs.xcl_temperature()],
    "cifar100-student-size": [specs.student_size(specs.CIFAR_WIDTHS, binary=False)],
    "cifar100-binary-student-size": [specs.student_size(specs.CIFAR_WIDTHS, binary=True)],
    "digits-student-size": [
        specs.student_size(specs.DIGITS_WIDTHS, binary=False),
        specs.student_size(specs.DIGITS_WIDTHS, binary=True),
    ],
    "imagenet-resnet50": [specs.imagenet("resnet50"), specs.imagenet("resnet101")],
    "cifar100-resnet18": [specs.methods_table("CIFAR-100, ResNet-18 students", specs.CIFAR_R18_PAPER)],
    "cifar100-pyramidnet200": [specs.methods_table("CIFAR-100, PyramidNet-200 students", {})],
    "cifar100-binary-resnet18": [specs.methods_table("CIFAR-100, binary-weight ResNet-18 students", {})],
    "digits-paper": [specs.methods_table("digits, half-width small-CNN students", specs.CIFAR_R18_PAPER)],
}

NOTE = (
    "Ours: test-split metric of the last epoch, mean ± sample std over the seeds that succeeded ('(n=k/m)' where "
    "some did not); paired columns: per-seed differences over common seeds, mean [95 % t-interval], seeds "
    "better / n, 'n.s.' where the interval covers 0; gap reduction vs KD with its 95 % bootstrap interval, only "
    "where the KD gap's interval lies above 0. '–': not run (or not logged). Columns headed 'paper' are the "
    "supplement's printed numbers (CIFAR-100 ResNet-18, ImageNet ResNet-50), never computed here."
)


def layout_names() -> list[str]:
    return sorted(LAYOUTS)


def supplement_tables(report: GridReport, runs: Sequence[Any], layout: str | None = None) -> SupplementTables:
    """The report laid out as the supplement's tables of `layout` (default: the grid's own name)."""
    name = layout or report.grid
    table_specs = LAYOUTS.get(name, [])
    groups = group_students(runs)
    return SupplementTables(
        grid_id=report.grid_id,
        grid=report.grid,
        layout=name if table_specs else None,
        caption=caption(report),
        tables=[build_table(spec, report, groups) for spec in table_specs],
        note=NOTE
        if table_specs
        else f"No supplement layout for '{name}'; layouts exist for: {', '.join(layout_names())}.",
    )


def _markdown_table(table: LayoutTable) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    lines = [f"**{table.title}**", "", line(table.columns), "|" + "---|" * len(table.columns)]
    lines += [line(row) for row in table.rows]
    return [*lines, "", *(f"{n}  " for n in table.notes), ""]


def to_markdown(tables: SupplementTables) -> str:
    """Every table as Markdown (for docs and `xclab grid report --format supplement`)."""
    lines = [f"_{tables.caption}_", ""]
    for table in tables.tables:
        lines += _markdown_table(table)
    return "\n".join([*lines, tables.note, ""])
