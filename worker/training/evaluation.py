"""Test-set evaluation: accuracy, calibration and teacher agreement, or angular error for gaze."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from worker.training.losses import split_gaussian
from worker.training.teachers import TeacherEnsemble

Batches = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]


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
def collect(model: nn.Module, batches: Batches, autocast: Any) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    outs, ys = [], []
    for x, y in batches():
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


def regression_metrics(outputs: torch.Tensor, y: torch.Tensor, prefix: str = "test") -> dict[str, float]:
    from worker.training.data.gaze_geometry import angular_error_deg

    mu, log_var = split_gaussian(outputs)
    metrics = {
        f"{prefix}_angular_error": float(angular_error_deg(mu, y.float()).mean().item()),
        f"{prefix}_loss": F.mse_loss(mu, y.float()).item(),
    }
    if outputs.shape[1] > mu.shape[1]:
        metrics[f"{prefix}_sigma"] = log_var.mul(0.5).exp().mean().item()
    return metrics


@torch.no_grad()
def teacher_outputs(teachers: TeacherEnsemble, batches: Batches, kind: str, autocast: Any) -> torch.Tensor:
    """The ensemble's combined prediction on the test set: averaged probabilities, or the merged Gaussian
    written back as (mu, log variance) outputs."""
    outs = []
    for x, _ in batches():
        with autocast():
            if kind == "classification":
                outs.append(teachers.probs(x).clamp_min(1e-12).log())
            else:
                mu, log_var = teachers.gaussian(x)
                outs.append(torch.cat([mu, log_var.unsqueeze(1)], 1))
    return torch.cat(outs).float()
