"""Distillation from the teacher ensemble: KD on the training batch, and XCL-Mix, whose transfer set adds
MixUp/CutMix samples the ensemble labels too."""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn
from torch.nn import functional as F

from worker.training.losses import cutmix, distillation_kl, gaussian_kl, mixup, split_gaussian
from worker.training.methods import register_method
from worker.training.methods.base import Method, StepOutput
from xclab.catalog.methods import DistillParams, KDParams, XCLMixParams

D = TypeVar("D", bound=DistillParams)


class Distill(Method[D]):
    """The student matches the ensemble on the transfer set; subclasses extend that set beyond the batch."""

    def transfer_set(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """The inputs the student learns on, and stored teacher targets for those beyond the batch (if any)."""
        return x, None

    def hard_label_weight(self) -> float:
        """Weight of a cross-entropy term on the batch's own labels (0: pure distillation)."""
        return 0.0

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepOutput:
        assert self.ctx.teachers is not None, "distillation needs a teacher ensemble"
        transfer, stored = self.transfer_set(x)
        labelled = x if stored is not None else transfer  # what the ensemble must label now
        out = model(transfer)
        if self.ctx.kind == "regression":
            mu_t, log_var_t = self.ctx.teachers.gaussian(labelled)
            if stored is not None:
                mu_t, log_var_t = torch.cat([mu_t, stored[0]]), torch.cat([log_var_t, stored[1]])
            mu_s, log_var_s = split_gaussian(out, mu_t.shape[1])
            return StepOutput(gaussian_kl(mu_t, log_var_t, mu_s, log_var_s), out[: len(x)])
        temperature = self.p.temperature
        probs = self.ctx.teachers.probs(labelled, temperature)
        if stored is not None:
            probs = torch.cat([probs, stored[0]])
        loss = distillation_kl(out, probs, temperature, self.p.t2_factor)
        gt_weight = self.hard_label_weight()
        if gt_weight:
            loss = (1 - gt_weight) * loss + gt_weight * F.cross_entropy(out[: len(x)].float(), y)
        return StepOutput(loss, out[: len(x)], probs)


@register_method("kd")
class KD(Distill[KDParams]):
    params_model = KDParams

    def hard_label_weight(self) -> float:
        return self.p.gt_weight


@register_method("xcl-mix")
class XCLMix(Distill[XCLMixParams]):
    """Transfer set = the batch plus MixUp/CutMix samples (mix_ratio x batch size of them)."""

    params_model = XCLMixParams

    def transfer_set(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        n_mixed = round(self.p.mix_ratio * len(x))
        if n_mixed == 0:
            return x, None
        kind = self.p.mix
        if kind == "both":
            kind = "mixup" if torch.rand(1, generator=self.ctx.generator).item() < 0.5 else "cutmix"
        mixer = mixup if kind == "mixup" else cutmix
        mixed, _, _ = mixer(x, self.p.alpha, self.ctx.generator)
        reps = -(-n_mixed // len(x))
        return torch.cat([x, mixed.repeat(reps, *([1] * (x.dim() - 1)))[:n_mixed]]), None
