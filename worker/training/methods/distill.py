"""Distillation from the teacher ensemble: KD on the training batch, and XCL-Mix, whose transfer set adds
MixUp/CutMix samples the ensemble labels too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn
from torch.nn import functional as F

from worker.training.losses import cutmix, distillation_kl, gaussian_kl, mixup, split_gaussian
from worker.training.methods import register_method
from worker.training.methods.base import Method, StepOutput
from xclab.catalog.methods import DistillParams, KDParams, XCLMixParams

D = TypeVar("D", bound=DistillParams)


@dataclass
class Transfer:
    inputs: torch.Tensor  # the transfer set: `originals` batch samples first, then the extra ones
    originals: int
    stored: tuple[torch.Tensor, ...] | None = None  # teacher targets of the extra samples, if labelled before


class Distill(Method[D]):
    """The student matches the ensemble on the transfer set; subclasses extend that set beyond the batch."""

    def transfer_set(self, x: torch.Tensor) -> Transfer:
        """The inputs the student learns on (the first `originals` of them from the batch, in order) and
        stored teacher targets for those beyond the batch (if any)."""
        return Transfer(x, len(x))

    def hard_label_weight(self) -> float:
        """Weight of a cross-entropy term on the batch's own labels (0: pure distillation)."""
        return 0.0

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepOutput:
        assert self.ctx.teachers is not None, "distillation needs a teacher ensemble"
        t = self.transfer_set(x)
        n = t.originals
        labelled = t.inputs[:n] if t.stored is not None else t.inputs  # what the ensemble must label now
        out = model(t.inputs)
        if self.ctx.kind == "regression":
            mu_t, log_var_t = self.ctx.teachers.gaussian(labelled)
            if t.stored is not None:
                mu_t, log_var_t = torch.cat([mu_t, t.stored[0]]), torch.cat([log_var_t, t.stored[1]])
            mu_s, log_var_s = split_gaussian(out, mu_t.shape[1])
            loss = gaussian_kl(mu_t, log_var_t, mu_s, log_var_s)
            return StepOutput(loss, out[:n], transfer_size=len(t.inputs))
        temperature = self.p.temperature
        probs = self.ctx.teachers.probs(labelled, temperature)
        if t.stored is not None:
            probs = torch.cat([probs, t.stored[0]])
        loss = distillation_kl(out, probs, temperature, self.p.t2_factor)
        gt_weight = self.hard_label_weight()
        if gt_weight:
            loss = (1 - gt_weight) * loss + gt_weight * F.cross_entropy(out[:n].float(), y[:n])
        return StepOutput(loss, out[:n], probs, transfer_size=len(t.inputs))


def split_transfer(batch_size: int, extra_share: float, composition: str) -> tuple[int, int]:
    """(originals, extra samples) of one transfer batch whose extra share is `extra_share` (in [0, 1)):
    `half` keeps the batch size (the paper's B/2 + B/2 at share 0.5), `append` keeps all B originals."""
    if composition == "append":
        return batch_size, round(batch_size * extra_share / (1 - extra_share))
    extra = min(batch_size - 1, round(batch_size * extra_share))  # at least one original: train accuracy
    return batch_size - extra, extra


@register_method("kd")
class KD(Distill[KDParams]):
    params_model = KDParams

    def hard_label_weight(self) -> float:
        return self.p.gt_weight


@register_method("xcl-mix")
class XCLMix(Distill[XCLMixParams]):
    """Transfer set = originals of the batch plus MixUp/CutMix samples of the whole batch, mix_ratio mixed
    per original (batch_composition: half keeps B samples in all, append adds the mixes to the B originals).
    Every B mixes are a fresh draw (lambda, partners, and with mix=both the kind)."""

    params_model = XCLMixParams

    def transfer_set(self, x: torch.Tensor) -> Transfer:
        ratio = self.p.mix_ratio
        originals, n_mixed = split_transfer(len(x), ratio / (1 + ratio), self.p.batch_composition)
        if n_mixed == 0:
            return Transfer(x[:originals], originals)
        mixes = [self._mix(x) for _ in range(-(-n_mixed // len(x)))]
        return Transfer(torch.cat([x[:originals], *mixes])[: originals + n_mixed], originals)

    def _mix(self, x: torch.Tensor) -> torch.Tensor:
        kind = self.p.mix
        if kind == "both":
            kind = "mixup" if torch.rand(1, generator=self.ctx.generator).item() < 0.5 else "cutmix"
        mixer = mixup if kind == "mixup" else cutmix
        return mixer(x, self.p.alpha, self.ctx.generator)[0]
