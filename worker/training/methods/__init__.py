"""Training methods by catalog name. Each turns one labelled batch into a loss for the student, and reports
the targets it trained on so the trainer can measure their normalised entropy (H-hat).

Conventions (stated once, used everywhere):
- KD/XCL targets are the ensemble's averaged member probabilities softmax(z_k / T); the student's logits are
  divided by the same T. The KL is multiplied by T^2 only when `t2_factor` is true (default false: the
  paper's XCL runs use T = 1, where the factor is moot).
- `gt_weight` (KD only) is the convex weight of a hard-label cross-entropy term:
  loss = (1 - gt_weight) * KL + gt_weight * CE(y). Default 0: pure distillation.
- Regression (gaze) outputs are an isotropic Gaussian (2-D mean, log variance). ERM uses the Gaussian NLL
  (squared error when the head has no variance); KD and XCL use the closed-form KL between the ensemble's
  moment-matched Gaussian and the student's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from worker.training.losses import (
    cutmix,
    distillation_kl,
    gaussian_kl,
    gaussian_nll,
    label_smoothing_targets,
    mixup,
    soft_cross_entropy,
    split_gaussian,
)
from worker.training.teachers import TeacherEnsemble

Sampler = Callable[[int, torch.Generator], torch.Tensor]


@dataclass
class StepOutput:
    loss: torch.Tensor
    # Student outputs on the original (unmixed, ungenerated) part of the batch, for train accuracy.
    outputs: torch.Tensor
    # Classification only: the target distributions actually trained on (whole transfer set), for H-hat.
    targets: torch.Tensor | None = None


@dataclass
class MethodContext:
    kind: str  # classification | regression
    num_outputs: int
    params: dict[str, Any]
    generator: torch.Generator
    teachers: TeacherEnsemble | None = None
    # XCL-GAN online: draws n generated inputs (already prepared for the model) on the training device.
    sample_generated: Sampler | None = None
    # XCL-GAN offline: a stored generated set with the ensemble's soft labels, computed once.
    offline_pool: OfflinePool | None = None


@dataclass
class OfflinePool:
    """Generated inputs plus their teacher targets: probabilities at the run's T (classification) or the
    merged Gaussian (mu, log variance) for gaze."""

    images: torch.Tensor
    targets: tuple[torch.Tensor, ...]

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        idx = torch.randint(0, len(self.images), (n,), generator=generator).to(self.images.device)
        return self.images[idx], tuple(t[idx] for t in self.targets)


class Method:
    name = "base"

    def __init__(self, ctx: MethodContext) -> None:
        self.ctx = ctx
        self.p = ctx.params

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepOutput:
        raise NotImplementedError

    # --- shared pieces
    def _one_hot(self, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y, self.ctx.num_outputs).float()

    def _regression_loss(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mu, log_var = split_gaussian(outputs)
        if outputs.shape[1] > y.shape[1]:
            return gaussian_nll(mu, log_var, y.float())
        return F.mse_loss(mu, y.float())


class ERM(Method):
    name = "erm"

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepOutput:
        out = model(x)
        if self.ctx.kind == "regression":
            return StepOutput(self._regression_loss(out, y), out)
        return StepOutput(F.cross_entropy(out.float(), y), out, self._one_hot(y))


class LabelSmoothing(Method):
    name = "ls"

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepOutput:
        targets = label_smoothing_targets(y, self.ctx.num_outputs, self.p["epsilon"])
        out = model(x)
        return StepOutput(soft_cross_entropy(out, targets), out, targets)


class Mix(Method):
    """MixUp or CutMix on the labelled batch: the target is the same mixture of the two labels."""

    def __init__(self, ctx: MethodContext, mixer: Callable[..., Any]) -> None:
        super().__init__(ctx)
        self.mixer = mixer

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepOutput:
        mixed, perm, lam = self.mixer(x, self.p["alpha"], self.ctx.generator)
        out = model(mixed)
        if self.ctx.kind == "regression":
            target = lam * y.float() + (1 - lam) * y[perm].float()
            return StepOutput(self._regression_loss(out, target), out)
        targets = lam * self._one_hot(y) + (1 - lam) * self._one_hot(y[perm])
        return StepOutput(soft_cross_entropy(out, targets), out, targets)


class Distill(Method):
    """KD on the original batch; subclasses extend the transfer set before the teacher labels it."""

    name = "kd"

    def transfer_set(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """The inputs the student learns on, and stored teacher targets for those beyond the batch (if any)."""
        return x, None

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepOutput:
        assert self.ctx.teachers is not None, "distillation needs a teacher ensemble"
        transfer, stored = self.transfer_set(x)
        labelled = x if stored is not None else transfer  # what the ensemble must label now
        out = model(transfer)
        if self.ctx.kind == "regression":
            mu_t, log_var_t = self.ctx.teachers.gaussian(labelled)
            if stored is not None:
                mu_t, log_var_t = torch.cat([mu_t, stored[0]]), torch.cat([log_var_t, stored[1]])
            mu_s, log_var_s = split_gaussian(out)
            return StepOutput(gaussian_kl(mu_t, log_var_t, mu_s, log_var_s), out[: len(x)])
        temperature = self.p["temperature"]
        probs = self.ctx.teachers.probs(labelled, temperature)
        if stored is not None:
            probs = torch.cat([probs, stored[0]])
        loss = distillation_kl(out, probs, temperature, self.p["t2_factor"])
        gt_weight = self.p.get("gt_weight", 0.0)
        if gt_weight:
            loss = (1 - gt_weight) * loss + gt_weight * F.cross_entropy(out[: len(x)].float(), y)
        return StepOutput(loss, out[: len(x)], probs)


class XCLMix(Distill):
    """Transfer set = the batch plus MixUp/CutMix samples (mix_ratio x batch size of them)."""

    name = "xcl-mix"

    def transfer_set(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        n_mixed = round(self.p["mix_ratio"] * len(x))
        if n_mixed == 0:
            return x, None
        kind = self.p["mix"]
        if kind == "both":
            kind = "mixup" if torch.rand(1, generator=self.ctx.generator).item() < 0.5 else "cutmix"
        mixer = mixup if kind == "mixup" else cutmix
        mixed, _, _ = mixer(x, self.p["alpha"], self.ctx.generator)
        reps = -(-n_mixed // len(x))
        return torch.cat([x, mixed.repeat(reps, *([1] * (x.dim() - 1)))[:n_mixed]]), None


class XCLGAN(Distill):
    """Transfer set = the batch plus generated samples, so that `gan_fraction` of it is generated: fresh ones
    labelled by the ensemble now (online), or drawn from the stored pool with its stored labels (offline)."""

    name = "xcl-gan"

    def transfer_set(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        fraction = self.p["gan_fraction"]
        n_gen = round(len(x) * fraction / (1 - fraction))
        if self.ctx.offline_pool is not None:
            images, targets = self.ctx.offline_pool.draw(n_gen, self.ctx.generator)
            return torch.cat([x, images.to(x.dtype)]), targets
        assert self.ctx.sample_generated is not None, "XCL-GAN needs a generator"
        return torch.cat([x, self.ctx.sample_generated(n_gen, self.ctx.generator).to(x.dtype)]), None


def build_method(name: str, ctx: MethodContext) -> Method:
    if name == "erm":
        return ERM(ctx)
    if name == "ls":
        return LabelSmoothing(ctx)
    if name == "mixup":
        return Mix(ctx, mixup)
    if name == "cutmix":
        return Mix(ctx, cutmix)
    if name == "kd":
        return Distill(ctx)
    if name == "xcl-mix":
        return XCLMix(ctx)
    if name == "xcl-gan":
        return XCLGAN(ctx)
    raise ValueError(f"method '{name}' is not implemented by this engine")
