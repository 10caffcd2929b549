"""Optimisers and learning-rate schedules of the paper's recipes, stepped once per training step. The names
are those `Hparams.optimizer` and `Hparams.schedule` allow (a test checks each is implemented)."""

from __future__ import annotations

import math

import torch
from torch import nn

from xclab.hparams import Hparams


def build_optimizer(model: nn.Module, hp: Hparams) -> torch.optim.Optimizer:
    if hp.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay, nesterov=True
        )
    if hp.optimizer == "adam":
        return torch.optim.Adam(
            model.parameters(), lr=hp.lr, betas=(hp.momentum, 0.999), weight_decay=hp.weight_decay
        )
    if hp.optimizer == "adamw":
        return torch.optim.AdamW(
            model.parameters(), lr=hp.lr, betas=(hp.momentum, 0.999), weight_decay=hp.weight_decay
        )
    raise ValueError(f"unknown optimizer '{hp.optimizer}'")


def lr_factor(hp: Hparams, epoch_float: float) -> float:
    """Multiplier of the base lr at a (fractional) epoch."""
    epochs = hp.epochs
    if hp.schedule == "constant":
        return 1.0
    if hp.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(epoch_float, epochs) / epochs))
    if hp.schedule == "step":
        # Decay by `lr_gamma` at each milestone epoch (e.g. /5 at 120, 240, 320 for CIFAR ResNet-18).
        passed = sum(1 for m in hp.lr_milestones if epoch_float >= m)
        return hp.lr_gamma**passed
    if hp.schedule == "warmup-cosine":
        # Linear warm-up from warmup_start_lr to lr, then cosine to 0 (ImageNet recipe).
        warm = hp.warmup_epochs
        if epoch_float < warm:
            assert hp.warmup_start_lr is not None  # Hparams requires it whenever there is a warm-up
            start = hp.warmup_start_lr / hp.lr
            return start + (1 - start) * epoch_float / warm
        return 0.5 * (1 + math.cos(math.pi * (epoch_float - warm) / max(epochs - warm, 1e-9)))
    raise ValueError(f"unknown schedule '{hp.schedule}'")


def build_scheduler(
    opt: torch.optim.Optimizer, hp: Hparams, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(hp, step / steps_per_epoch))
