"""Empirical risk minimisation: cross-entropy on the labels; on regression targets the Gaussian NLL or the
MSE of the mean (`loss`, default: NLL where the model predicts a variance)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from worker.training.losses import gaussian_nll, split_gaussian
from worker.training.methods import register_method
from worker.training.methods.base import Method, MethodContext, StepOutput
from xclab.catalog.methods import ERMParams


@register_method("erm")
class ERM(Method[ERMParams]):
    params_model = ERMParams

    def __init__(self, ctx: MethodContext) -> None:
        super().__init__(ctx)
        if self.p.loss != "auto" and ctx.kind != "regression":
            raise ValueError(f"erm: loss '{self.p.loss}' applies to regression tasks; leave loss at auto")

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepOutput:
        out = model(x)
        if self.ctx.kind != "regression":
            return StepOutput(F.cross_entropy(out.float(), y), out, self._one_hot(y))
        if self.p.loss == "auto":
            return StepOutput(self._regression_loss(out, y), out)
        mu, log_var = split_gaussian(out, y.shape[1])
        if self.p.loss == "mse":
            return StepOutput(F.mse_loss(mu.float(), y.float()), out)
        if out.shape[1] <= y.shape[1]:
            raise ValueError(
                "erm: loss 'nll' needs a model with a variance output (model option uncertainty)"
            )
        return StepOutput(gaussian_nll(mu, log_var, y.float()), out)
