"""Scoring predictions: accuracy, calibration and agreement for classification; for regression, the task's
target error (e.g. gaze: angular error), registered by the task's loader file, plus the Gaussian head's spread."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from worker.training.data import RegressionError, regression_error
from worker.training.losses import split_gaussian
from worker.training.teachers import TeacherEnsemble
from xclab.catalog import TaskInfo

Split = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]


def expected_calibration_error(probs: torch.Tensor, y: torch.Tensor, bins: int = 15) -> float:
    """ECE in percent: |accuracy - confidence| per confidence bin, weighted by the bin's share of samples."""
    confidence, pred = probs.max(1)
    correct = (pred == y).float()
    edges = torch.linspace(0, 1, bins + 1, device=probs.device)
    ece = torch.zeros((), device=probs.device)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += in_bin.float().mean() * (correct[in_bin].mean() - confidence[in_bin].mean()).abs()
    return ece.item() * 100


@torch.no_grad()
def collect(model: nn.Module, split: Split, autocast: Any) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    outs, ys = [], []
    for x, y in split():
        with autocast():
            outs.append(model(x).float())
        ys.append(y)
    return torch.cat(outs), torch.cat(ys)


def classification_metrics(logits: torch.Tensor, y: torch.Tensor, prefix: str = "test") -> dict[str, float]:
    probs = logits.softmax(1)
    metrics = {
        f"{prefix}_loss": F.cross_entropy(logits, y).item(),
        f"{prefix}_top1": (logits.argmax(1) == y).float().mean().item() * 100,
        f"{prefix}_ece": expected_calibration_error(probs, y),
    }
    if logits.shape[1] >= 5:
        top5 = logits.topk(5, dim=1).indices
        metrics[f"{prefix}_top5"] = (top5 == y.unsqueeze(1)).any(1).float().mean().item() * 100
    return metrics


def regression_metrics(
    outputs: torch.Tensor, y: torch.Tensor, error: RegressionError, error_name: str, prefix: str = "test"
) -> dict[str, float]:
    mu, log_var = split_gaussian(outputs, y.shape[1])
    metrics = {
        f"{prefix}_{error_name}": float(error(mu, y.float()).mean().item()),
        f"{prefix}_loss": F.mse_loss(mu, y.float()).item(),
    }
    if outputs.shape[1] > mu.shape[1]:
        metrics[f"{prefix}_sigma"] = log_var.mul(0.5).exp().mean().item()
    return metrics


class Scorer:
    """Metrics for one task's predictions, whatever its kind."""

    def __init__(self, task: TaskInfo) -> None:
        self.task = task
        self.error = regression_error(task.target.name) if task.target is not None else None

    def score(self, outputs: torch.Tensor, y: torch.Tensor, prefix: str = "test") -> dict[str, float]:
        if self.error is None:
            return classification_metrics(outputs, y, prefix)
        assert self.task.target is not None
        return regression_metrics(outputs, y, self.error, self.task.target.error_metric, prefix)

    def per_sample(self, outputs: torch.Tensor, y: torch.Tensor) -> dict[str, list[Any]]:
        """Per-sample test results for paired tests between runs (McNemar on classification):
        {"targets", "predictions"} as class indices, or {"errors"}: each sample's primary-metric error."""
        if self.error is None:
            return {"targets": y.tolist(), "predictions": outputs.argmax(1).tolist()}
        mu, _ = split_gaussian(outputs, y.shape[1])
        return {"errors": self.error(mu, y.float()).float().tolist()}

    def agreement(self, student: torch.Tensor, teacher: torch.Tensor) -> float:
        """Classification: % of samples where student and ensemble pick the same class. Regression: the mean
        target error between their predicted means (gaze: the angle between predicted directions)."""
        if self.error is None:
            return (student.argmax(1) == teacher.argmax(1)).float().mean().item() * 100
        dims = self.task.num_outputs
        return float(self.error(student[:, :dims], teacher[:, :dims]).mean().item())


@torch.no_grad()
def teacher_outputs(teachers: TeacherEnsemble, split: Split, task: TaskInfo, autocast: Any) -> torch.Tensor:
    """The ensemble's combined prediction: averaged probabilities (as log-probabilities), or the merged
    Gaussian written back as (mu, log variance) outputs."""
    outs = []
    for x, _ in split():
        with autocast():
            if task.regression:
                mu, log_var = teachers.gaussian(x)
                outs.append(torch.cat([mu, log_var.unsqueeze(1)], 1))
            else:
                outs.append(teachers.probs(x).clamp_min(1e-12).log())
    return torch.cat(outs).float()


def teacher_metrics(
    teachers: TeacherEnsemble, test: Split, scorer: Scorer, autocast: Any
) -> tuple[dict[str, float], torch.Tensor]:
    """The ensemble's own test scores (prefixed teacher_test) and its test outputs, for student agreement."""
    outputs = teacher_outputs(teachers, test, scorer.task, autocast)
    test_y = torch.cat([y for _, y in test()])
    metrics = scorer.score(outputs, test_y, prefix="teacher_test")
    metrics["teacher_members"] = float(len(teachers.members))
    return metrics, outputs


def extra_test_metrics(
    model: nn.Module,
    datasets: dict[str, Any] | None,
    batches_over: Callable[[Any], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    scorer: Scorer,
    autocast: Any,
) -> dict[str, float]:
    """Scores of the final model on each extra test set, with the set's prefix (e.g. imagenetv2_..._top1)."""
    metrics: dict[str, float] = {}
    for prefix, dataset in (datasets or {}).items():
        outputs, y = collect(model, lambda d=dataset: batches_over(d), autocast)
        metrics.update(scorer.score(outputs, y, prefix=prefix))
    return metrics
