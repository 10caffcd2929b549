"""The side-by-side tables: MLflow and XCL Lab on the same backend, ratios oriented so > 1 favours XCL Lab."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.tracking.pairing import paired_ratio
from benchmarks.tracking.runner import Result, Sizes
from benchmarks.tracking.workload import METRIC_KEYS, SUMMARY_STEPS, TOP_K

MIB = 1024**2


@dataclass(frozen=True)
class Row:
    label: str
    keys: tuple[str, ...]  # figures shown as "a / b"
    higher_is_better: bool
    # (label, figure measured part by part) for the paired ratio; default: the first key's parts
    paired: tuple[tuple[str, str], ...] = ()

    def paired_figures(self) -> tuple[tuple[str, str], ...]:
        return self.paired or (("", self.keys[0]),)


def rows(sizes: Sizes) -> list[Row]:
    per_run = SUMMARY_STEPS * len(METRIC_KEYS)

    def per_scale(
        figure: str,
    ) -> tuple[tuple[str, str], ...]:  # each growth's parts are alike, not across them
        return tuple((f"to {scale:,}", f"{figure}_{scale}") for scale in sizes.scales)

    out = [
        Row(f"batched ingestion, {sizes.batch:,}-point requests, points/s", ("batched_points_per_s",), True),
        Row("one point per request, points/s", ("single_points_per_s",), True),
        Row("run creation with 10 params, runs/s", ("runs_per_s",), True, per_scale("runs_per_s")),
        Row(
            f"each run's metrics, {per_run}-point requests, points/s",
            ("summary_points_per_s",),
            True,
            per_scale("summary_points_per_s"),
        ),
    ]
    for scale in sizes.scales:
        out.append(
            Row(
                f"top-{TOP_K} search at {scale:,} runs, p50 / p95 ms",
                (f"search_{scale}_p50_ms", f"search_{scale}_p95_ms"),
                False,
            )
        )
    out += [
        Row(f"{sizes.history_points:,}-point history, p50 ms", ("history_p50_ms",), False),
        Row("server RSS, MiB (serving / whole tree)", ("rss_serving_mib", "rss_tree_mib"), False),
        Row("cheapest request (liveness), p50 ms", ("health_p50_ms",), False),
    ]
    return out


def number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def ratio(value: float) -> str:
    if value >= 10:
        return f"{value:.0f}×"
    return f"{value:.1f}×" if value >= 0.1 else f"{value:.2f}×"


def derived(result: Result) -> dict[str, float]:
    """Figures computed from raw ones: rates and memory in MiB."""
    figures = dict(result.figures)
    if figures.get("summary_s"):
        figures["summary_points_per_s"] = figures["summary_points"] / figures["summary_s"]
    if result.meter is not None and result.meter.rss_peak[1]:
        figures["rss_serving_mib"] = result.meter.rss_peak[0] / MIB
        figures["rss_tree_mib"] = result.meter.rss_peak[1] / MIB
    return figures


def table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in body]


def paired_cell(mlflow: Result, xclab: Result, row: Row) -> str:
    """Each paired figure of the row: the median of its blocks' ratios, the 95 % interval and how many blocks."""
    cells = []
    for label, figure in row.paired_figures():
        found = paired_ratio(mlflow, xclab, figure, row.higher_is_better)
        if found is None:
            continue
        low_high = (
            f"{ratio(found.interval[0])}–{ratio(found.interval[1])}" if found.interval else "no interval"
        )
        cells.append(f"{label + ': ' if label else ''}{ratio(found.median)} ({low_high}, {found.blocks})")
    return "; ".join(cells) or "–"


def figures_table(mlflow: Result, xclab: Result, sizes: Sizes, paired: bool = False) -> list[str]:
    """With `paired` (the servers took turns part by part), a last column gives each row's paired ratio."""
    theirs, ours = derived(mlflow), derived(xclab)
    body = []
    for row in rows(sizes):
        if not all(k in theirs and k in ours for k in row.keys):
            continue
        ratios = [ours[k] / theirs[k] if row.higher_is_better else theirs[k] / ours[k] for k in row.keys]
        cells = [
            row.label,
            " / ".join(number(theirs[k]) for k in row.keys),
            " / ".join(number(ours[k]) for k in row.keys),
            " / ".join(ratio(r) for r in ratios),
        ]
        body.append([*cells, paired_cell(mlflow, xclab, row)] if paired else cells)
    header = ["figure", "MLflow", "XCL Lab", "ratio"]
    if paired:
        header.append("paired ratio: median over blocks (95 % interval, blocks)")
    return table(header, body)


def cpu_table(mlflow: Result, xclab: Result) -> list[str]:
    """Wall time and server CPU seconds per phase (CPU includes the PostgreSQL backends serving it)."""
    assert mlflow.meter is not None and xclab.meter is not None
    body = []
    for name, theirs in mlflow.meter.phases.items():
        ours = xclab.meter.phases.get(name)
        if ours is None:
            continue
        body.append(
            [
                name,
                f"{theirs.wall:.1f} / {ours.wall:.1f}",
                f"{theirs.server_cpu:.1f} / {ours.server_cpu:.1f}",
                ratio(theirs.server_cpu / ours.server_cpu) if ours.server_cpu > 0 else "–",
            ]
        )
    return table(["phase", "wall s, MLflow / XCL Lab", "server CPU s, MLflow / XCL Lab", "CPU ratio"], body)
