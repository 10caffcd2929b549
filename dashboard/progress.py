"""A running run's progress: epoch x/N from its primary metric's last step, time elapsed, and an ETA that
assumes the remaining epochs take as long as the finished ones (no Streamlit here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Progress:
    epoch: int
    epochs: int | None
    elapsed_s: float | None
    eta_s: float | None

    @property
    def fraction(self) -> float | None:
        return None if not self.epochs else min(1.0, self.epoch / self.epochs)


def duration(seconds: float | None) -> str:
    """75 as "1m 15s", 4000 as "1h 6m"; "–" when unknown."""
    if seconds is None:
        return "–"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run_progress(run: dict[str, Any], last_epoch: int | None, now: datetime | None = None) -> Progress:
    """`last_epoch`: the last step of the run's per-epoch primary metric (None when nothing is logged yet)."""
    epochs = (run.get("hparams") or {}).get("epochs") or run.get("spec", {}).get("epochs")
    epoch = last_epoch or 0
    started = _parse(run.get("started_at"))
    end = _parse(run.get("finished_at")) or now or datetime.now(UTC)
    elapsed = (end - started).total_seconds() if started else None
    eta = None
    if elapsed is not None and epochs and 0 < epoch < epochs and run.get("status") == "running":
        eta = elapsed / epoch * (epochs - epoch)
    return Progress(epoch, epochs, elapsed, eta)


def progress_text(p: Progress) -> str:
    epochs = f"epoch {p.epoch}/{p.epochs}" if p.epochs else f"epoch {p.epoch}"
    eta = f" · ETA {duration(p.eta_s)}" if p.eta_s is not None else ""
    return f"{epochs} · {duration(p.elapsed_s)} elapsed{eta}"
