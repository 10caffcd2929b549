"""Label smoothing as the paper defines it: 1 - eps on the true class, eps / (c - 1) on each other class."""

from __future__ import annotations

import torch
from torch import nn

from worker.training.losses import label_smoothing_targets, soft_cross_entropy
from worker.training.methods import register_method
from worker.training.methods.base import Method, StepOutput
from xclab.catalog.methods import LabelSmoothingParams


@register_method("ls")
class LabelSmoothing(Method[LabelSmoothingParams]):
    params_model = LabelSmoothingParams

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepOutput:
        targets = label_smoothing_targets(y, self.ctx.num_outputs, self.p.epsilon)
        out = model(x)
        return StepOutput(soft_cross_entropy(out, targets), out, targets)
