"""What a reviewer asks of a grid's rows: which KD row is the reference (chosen on the validation split, never on
the test split), how each row differs from its baselines seed by seed (t-interval, paired t, exact sign test,
McNemar on stored test predictions), and the gap reduction vs KD where the KD gap is real."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from backend.reports.schema import Comparison, ReportRow
from backend.vocabulary import KD_REFERENCE_METHOD
from xclab import stats

# Per-sample test predictions of a run, as the engine stores them ({"targets": [...], "predictions": [...]};
# None where the run stored none).
PredictionsLoader = Callable[[Any], dict[str, Any] | None]


def base_method(label: str) -> str:
    """kd[temperature=2] -> kd."""
    return label.split("[", 1)[0]


def seed_gaps(row: ReportRow, goal: str) -> dict[int, float]:
    """The row's gap to its teacher ensemble, seed by seed (positive: the student is worse)."""
    if row.teacher is None:
        return {}
    sign = 1.0 if goal == "max" else -1.0
    return {seed: sign * (row.teacher - value) for seed, value in row.values.items()}


def _kd_rows(rows: Sequence[ReportRow], model: str, ensemble: str | None) -> list[ReportRow]:
    """The KD rows a row of this model and ensemble is measured against (any ensemble's for rows without one,
    as long as there is only one). A KD row is one whose runs' method is KD, whatever the grid labelled it
    (the teacher ablations label theirs by teacher)."""
    kd = [
        r
        for r in rows
        if (r.method_name or base_method(r.method)) == KD_REFERENCE_METHOD and r.model == model and r.n
    ]
    if ensemble is not None:
        return [r for r in kd if r.ensemble == ensemble]
    return kd if len({r.ensemble for r in kd}) == 1 else []


def kd_reference(rows: Sequence[ReportRow], model: str, ensemble: str | None, goal: str) -> ReportRow | None:
    """The best KD row by mean validation metric; without validation metrics, the only KD row or KD at its
    defaults / T = 1 (never a choice made on the test split)."""
    candidates = _kd_rows(rows, model, ensemble)
    if not candidates:
        return None
    if all(r.val_mean is not None for r in candidates):
        sign = 1.0 if goal == "max" else -1.0
        return max(candidates, key=lambda r: sign * r.val_mean)  # type: ignore[operator]  # checked above
    if len(candidates) == 1:
        return candidates[0]
    default = [
        r for r in candidates if r.method in (KD_REFERENCE_METHOD, f"{KD_REFERENCE_METHOD}[temperature=1]")
    ]
    return default[0] if default else None


def kd_selection_note(rows: Sequence[ReportRow], val_key: str, goal: str) -> str:
    """How each KD reference was chosen, in words."""
    parts = []
    for model, ensemble in dict.fromkeys((r.model, r.ensemble) for r in rows if r.ensemble is not None):
        candidates = _kd_rows(rows, model, ensemble)
        ref = kd_reference(rows, model, ensemble, goal)
        if ref is None:
            continue
        where = f"{model} taught by {ensemble}"
        if len(candidates) == 1:
            parts.append(f"{where}: {ref.method} (the only KD row; nothing selected)")
        elif ref.val_mean is not None:
            tried = ", ".join(f"{r.method} {r.val_mean:.2f}" for r in candidates)
            parts.append(f"{where}: {ref.method}, best mean {val_key} on the validation split ({tried})")
        else:
            parts.append(
                f"{where}: {ref.method} (no validation metric logged; the default row, not selected)"
            )
    return "; ".join(parts)


def _baseline_row(rows: Sequence[ReportRow], row: ReportRow, baseline: str, goal: str) -> ReportRow | None:
    if baseline == KD_REFERENCE_METHOD:
        return kd_reference(rows, row.model, row.ensemble, goal)
    same = [r for r in rows if r.method == baseline and r.model == row.model and r.n]
    own = [r for r in same if r.ensemble == row.ensemble]
    return (own or same or [None])[0]


def add_comparisons(
    rows: Sequence[ReportRow],
    goal: str,
    baselines: Sequence[str],
    runs: dict[str, dict[int, Any]],
    predictions: PredictionsLoader | None,
    classification: bool,
) -> None:
    """Fill each row's comparisons, KD reference and gap reduction (rows are updated in place)."""
    load = cache(lambda run_id: predictions(by_id[run_id]) if predictions else None)
    by_id = {run.id: run for seeds in runs.values() for run in seeds.values()}
    for row in rows:
        compared: set[str] = set()
        for baseline in baselines:
            other = _baseline_row(rows, row, baseline, goal)
            if other is None or other is row or other.group in compared:  # e.g. 'kd' is kd[temperature=1]
                continue
            compared.add(other.group)
            comparison = compare(row, other, baseline, goal)
            if comparison is None:
                continue
            if classification and predictions:
                pairs = [
                    (load(runs[row.group][s].id), load(runs[other.group][s].id))
                    for s in sorted(set(row.values) & set(other.values))
                    if s in runs.get(row.group, {}) and s in runs.get(other.group, {})
                ]
                _add_mcnemar(comparison, [(a, b) for a, b in pairs if a and b])
            row.comparisons.append(comparison)
        ref = kd_reference(rows, row.model, row.ensemble, goal)
        if ref is None:
            continue
        row.kd_reference = ref.group
        if (
            ref is not row
            and ref.teacher == row.teacher
            and ref.gap_ci_low is not None
            and ref.gap_ci_low > 0
        ):
            reduction = stats.gap_reduction(seed_gaps(row, goal), seed_gaps(ref, goal))
            if reduction is not None:
                row.gap_reduction_vs_kd = reduction.value
                row.gap_reduction_ci_low, row.gap_reduction_ci_high = reduction.ci_low, reduction.ci_high


def compare(row: ReportRow, other: ReportRow, baseline: str, goal: str) -> Comparison | None:
    paired = stats.paired(row.values, other.values)
    if paired is None:
        return None
    better, worse = (
        (paired.positive, paired.negative) if goal == "max" else (paired.negative, paired.positive)
    )
    return Comparison(
        baseline=baseline,
        baseline_group=other.group,
        n=paired.n,
        mean=paired.mean,
        ci_low=paired.ci_low,
        ci_high=paired.ci_high,
        t_p_value=paired.t_p_value,
        better=better,
        worse=worse,
        sign_p_value=paired.sign_p_value,
        significant=paired.significant,
    )


def _add_mcnemar(comparison: Comparison, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Pool the per-sample predictions of every seed both rows stored (same test samples, same order)."""
    targets: list[int] = []
    mine: list[int] = []
    theirs: list[int] = []
    for a, b in pairs:
        if a.get("targets") != b.get("targets") or "predictions" not in a or "predictions" not in b:
            continue
        if not len(a["targets"]) == len(a["predictions"]) == len(b["predictions"]):
            continue
        targets += a["targets"]
        mine += a["predictions"]
        theirs += b["predictions"]
        comparison.mcnemar_seeds += 1
    if comparison.mcnemar_seeds:
        result = stats.mcnemar(targets, mine, theirs)
        comparison.mcnemar_only_row, comparison.mcnemar_only_baseline = result.only_a, result.only_b
        comparison.mcnemar_p_value = result.p_value
