"""Loss functions and target constructions of the paper, each small enough to check by hand."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from worker.training.streams import beta


def label_smoothing_targets(y: torch.Tensor, num_classes: int, epsilon: float) -> torch.Tensor:
    """The paper's label smoothing: 1 - eps on the true class, eps / (c - 1) on each other class."""
    targets = torch.full((len(y), num_classes), epsilon / (num_classes - 1), device=y.device)
    targets.scatter_(1, y.unsqueeze(1), 1.0 - epsilon)
    return targets


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a target distribution, averaged over the batch."""
    return -(targets * F.log_softmax(logits.float(), dim=1)).sum(1).mean()


def normalized_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Per-sample entropy divided by log(c): the paper's H-hat before averaging and scaling to percent."""
    num_classes = probs.shape[1]
    p = probs.float().clamp_min(1e-12)
    return -(p * p.log()).sum(1) / math.log(num_classes)


def distillation_kl(
    student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float, t2_factor: bool
) -> torch.Tensor:
    """KL(p_teacher || softmax(z_student / T)) averaged over the batch; times T^2 when t2_factor (Hinton)."""
    log_q = F.log_softmax(student_logits.float() / temperature, dim=1)
    p = teacher_probs.float()
    kl = (p * (p.clamp_min(1e-12).log() - log_q)).sum(1).mean()
    return kl * temperature**2 if t2_factor else kl


def split_gaussian(outputs: torch.Tensor, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A regression head's outputs [N, dims] or [N, dims + 1] -> (mean [N, dims], log variance [N]) of an
    isotropic Gaussian N(mu, s^2 I); without a variance output, s = 1."""
    mu = outputs[:, :dims].float()
    if outputs.shape[1] > dims:
        # Clamped so a young network cannot blow up the NLL with a vanishing variance.
        log_var = outputs[:, dims].float().clamp(-12.0, 8.0)
    else:
        log_var = torch.zeros(len(outputs), device=outputs.device)
    return mu, log_var


def gaussian_nll(mu: torch.Tensor, log_var: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||y - mu||^2 / (2 s^2) + d log s in d dimensions (constants dropped), averaged over the batch."""
    d = mu.shape[1]
    return (((y - mu) ** 2).sum(1) / (2 * log_var.exp()) + d * 0.5 * log_var).mean()


def gaussian_kl(
    mu_t: torch.Tensor, log_var_t: torch.Tensor, mu_s: torch.Tensor, log_var_s: torch.Tensor
) -> torch.Tensor:
    """Closed-form KL(N(mu_t, s_t^2 I) || N(mu_s, s_s^2 I)) in d dims, averaged over the batch:
    d log(s_s / s_t) + (d s_t^2 + ||mu_t - mu_s||^2) / (2 s_s^2) - d / 2."""
    d = mu_t.shape[1]
    var_t, var_s = log_var_t.exp(), log_var_s.exp()
    kl = d * 0.5 * (log_var_s - log_var_t) + (d * var_t + ((mu_t - mu_s) ** 2).sum(1)) / (2 * var_s) - d / 2
    return kl.mean()


def moment_matched_gaussian(mus: torch.Tensor, log_vars: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge K isotropic Gaussians [K,N,d], [K,N] into one isotropic Gaussian with the mixture's first two
    moments: mean = average mean; variance = average member variance + spread of the means (per dimension)."""
    mu = mus.mean(0)
    d = mus.shape[2]
    var = log_vars.exp().mean(0) + ((mus - mu) ** 2).sum(2).mean(0) / d
    return mu, var.clamp_min(1e-8).log()


def mixup(
    x: torch.Tensor, alpha: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """MixUp with one lambda ~ Beta(alpha, alpha) per batch (every draw from `generator`); returns (mixed x, partner permutation, lambda)."""
    lam = beta(alpha, generator)
    perm = torch.randperm(len(x), generator=generator).to(x.device)
    return lam * x + (1 - lam) * x[perm], perm, lam


def cutmix(
    x: torch.Tensor, alpha: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """CutMix: paste a random box from a partner image; lambda is the kept area fraction."""
    lam = beta(alpha, generator)
    perm = torch.randperm(len(x), generator=generator).to(x.device)
    h, w = x.shape[-2:]
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = (int(v) for v in torch.randint(0, 10**9, (2,), generator=generator))
    cy, cx = cy % h, cx % w
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    mixed = x.clone()
    mixed[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    lam = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
    return mixed, perm, lam
