"""Empirical risk minimisation: cross-entropy on the labels, or the Gaussian NLL on regression targets."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from worker.training.methods import register_method
from worker.training.methods.base import Method, StepOutput
from xclab.catalog import MethodParams


@register_method("erm")
class ERM(Method[MethodParams]):
    params_model = MethodParams

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepOutput:
        out = model(x)
        if self.ctx.kind == "regression":
            return StepOutput(self._regression_loss(out, y), out)
        return StepOutput(F.cross_entropy(out.float(), y), out, self._one_hot(y))
