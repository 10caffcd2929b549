"""The grids page's progress bar: one bar split by cell status, as plain HTML (no chart library to load)."""

from __future__ import annotations

# Segments of the grid's progress bar, in this order: what is done on the left, what waits on the right.
BAR_ORDER = ("succeeded", "failed", "cancelled", "running", "queued", "waiting")
BAR_COLOURS = {
    "succeeded": "#16a34a",
    "failed": "#dc2626",
    "cancelled": "#6b7280",
    "running": "#2563eb",
    "queued": "#eab308",
    "waiting": "#f97316",
}


def progress_segments(counts: dict[str, int]) -> list[tuple[str, int, float]]:
    """(status, cells, percent of the bar) for each status that has cells, in BAR_ORDER."""
    total = sum(counts.values())
    return [(s, counts[s], 100 * counts[s] / total) for s in BAR_ORDER if counts.get(s)]


def progress_bar_html(counts: dict[str, int]) -> str:
    segments = "".join(
        f'<div class="xcl-seg xcl-{status}" title="{status}: {n}" '
        f'style="width:{pct:.4g}%;background:{BAR_COLOURS[status]}"></div>'
        for status, n, pct in progress_segments(counts)
    )
    return (
        '<div class="xcl-grid-progress" role="img" style="display:flex;height:14px;border-radius:7px;'
        f'overflow:hidden;background:#e5e7eb;margin:0.25rem 0 0.5rem 0">{segments}</div>'
    )
