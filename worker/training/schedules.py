"""Optimisers and learning-rate schedules of the paper's recipes, stepped once per training step."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


def build_optimizer(model: nn.Module, hp: dict[str, Any]) -> torch.optim.Optimizer:
    name = hp["optimizer"]
    if name == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=hp["lr"],
            momentum=hp["momentum"],
            weight_decay=hp["weight_decay"],
            nesterov=True,
        )
    if name == "adam":
        return torch.optim.Adam(
            model.parameters(), lr=hp["lr"], betas=(hp["momentum"], 0.999), weight_decay=hp["weight_decay"]
        )
    if name == "adamw":
        return torch.optim.AdamW(
            model.parameters(), lr=hp["lr"], betas=(hp["momentum"], 0.999), weight_decay=hp["weight_decay"]
        )
    raise ValueError(f"unknown optimizer '{name}'; allowed: sgd, adam, adamw")


def lr_factor(hp: dict[str, Any], epoch_float: float) -> float:
    """Multiplier of the base lr at a (fractional) epoch."""
    schedule, epochs = hp["schedule"], hp["epochs"]
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(epoch_float, epochs) / epochs))
    if schedule == "step":
        # Decay by `lr_gamma` at each milestone epoch (e.g. /5 at 120, 240, 320 for CIFAR ResNet-18).
        passed = sum(1 for m in hp["lr_milestones"] if epoch_float >= m)
        return hp["lr_gamma"] ** passed
    if schedule == "warmup-cosine":
        # Linear warm-up from warmup_start_lr to lr, then cosine to 0 (ImageNet recipe).
        warm = hp["warmup_epochs"]
        if epoch_float < warm:
            start = hp["warmup_start_lr"] / hp["lr"]
            return start + (1 - start) * epoch_float / warm
        return 0.5 * (1 + math.cos(math.pi * (epoch_float - warm) / max(epochs - warm, 1e-9)))
    raise ValueError(f"unknown schedule '{schedule}'; allowed: constant, cosine, step, warmup-cosine")


def build_scheduler(
    opt: torch.optim.Optimizer, hp: dict[str, Any], steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(hp, step / steps_per_epoch))
