"""What a training run reports back and how a caller steers it: hooks in, a result or `Cancelled` out.
Every loop (student and generator runs) imports these from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

CANCEL_CHECK_EVERY = 5  # steps between looks at the cancel flag
CHECKPOINT_FILE = "checkpoint.pt"  # a run's resumable checkpoint in its folder


class Cancelled(Exception):
    """Raised inside the loop when the hooks ask to stop; the checkpoint on disk stays valid."""


class Hooks:
    """Override to stream metrics, stop early or watch the run; the defaults do nothing."""

    def on_model_built(self, model: nn.Module) -> None:
        """The freshly initialised student (or generator), before any resume or training step."""

    def on_environment(self, environment: dict[str, Any]) -> None:
        """What the run runs on (worker.training.environment); reported again if that changes mid-run."""

    def on_train_batch(self, step: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """An original training batch (augmented, before any method mixes or extends it)."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        pass

    def on_resume(self, epoch: int) -> None:
        """The run resumed from a checkpoint of `epoch` finished epochs (only called when `epoch` > 0)."""

    def on_checkpoint(self, path: Path, epoch: int) -> None:
        """A resumable checkpoint of `epoch` finished epochs was written to `path` (complete, renamed into place;
        it is not overwritten before this returns). Not called for the last epoch: the finished model follows."""

    def on_samples(self, epoch: int, images: torch.Tensor) -> None:
        """A generator run's samples at this epoch (one row per class, fixed noise): at most
        worker.training.media.MAX_SAMPLE_GRIDS epochs per run."""

    def should_stop(self) -> bool:
        return False


@dataclass
class TrainResult:
    final_metrics: dict[str, float]
    model_path: Path
    history: list[dict[str, float]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    # Student runs: per-sample test results, {"targets", "predictions"} or {"errors"} (Scorer.per_sample).
    predictions_path: Path | None = None
