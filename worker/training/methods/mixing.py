"""MixUp and CutMix on the labelled batch: the target is the same mixture of the two labels (or, for
regression, of the two target values)."""

from __future__ import annotations

import torch
from torch import nn

from worker.training.losses import cutmix, mixup, soft_cross_entropy
from worker.training.methods import register_method
from worker.training.methods.base import Method, StepOutput
from xclab.catalog.methods import MixParams


class Mix(Method[MixParams]):
    params_model = MixParams
    mixer = staticmethod(mixup)  # (x, alpha, generator) -> (mixed x, partner permutation, lambda)

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepOutput:
        mixed, perm, lam = self.mixer(x, self.p.alpha, self.ctx.generator)
        out = model(mixed)
        if self.ctx.kind == "regression":
            target = lam * y.float() + (1 - lam) * y[perm].float()
            return StepOutput(self._regression_loss(out, target), out)
        targets = lam * self._one_hot(y) + (1 - lam) * self._one_hot(y[perm])
        return StepOutput(soft_cross_entropy(out, targets), out, targets)


@register_method("mixup")
class MixUp(Mix):
    mixer = staticmethod(mixup)


@register_method("cutmix")
class CutMix(Mix):
    mixer = staticmethod(cutmix)
