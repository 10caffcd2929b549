"""Each loss and target construction against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from worker.training.losses import (
    cutmix,
    distillation_kl,
    gaussian_kl,
    gaussian_nll,
    label_smoothing_targets,
    mixup,
    moment_matched_gaussian,
    normalized_entropy,
    soft_cross_entropy,
)


@pytest.mark.parametrize(("epsilon", "h_hat"), [(0.1, 17.0), (0.18, 28.2), (0.4, 54.5), (0.8, 90.7)])
def test_label_smoothing_entropy_matches_the_paper(epsilon: float, h_hat: float) -> None:
    targets = label_smoothing_targets(torch.tensor([3, 7]), 100, epsilon)
    assert targets[0, 3].item() == pytest.approx(1 - epsilon)
    assert targets[0, 0].item() == pytest.approx(epsilon / 99)
    assert targets.sum(1).tolist() == pytest.approx([1.0, 1.0])
    assert round(100 * normalized_entropy(targets).mean().item(), 1) == h_hat


def test_normalized_entropy_bounds() -> None:
    assert normalized_entropy(torch.eye(4)).tolist() == pytest.approx([0.0] * 4, abs=1e-6)
    assert normalized_entropy(torch.full((1, 10), 0.1)).item() == pytest.approx(1.0)


def test_soft_cross_entropy_equals_hard_one_on_one_hot() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    expected = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-1)))
    assert soft_cross_entropy(logits, torch.tensor([[1.0, 0.0, 0.0]])).item() == pytest.approx(
        expected, rel=1e-6
    )


def test_distillation_kl_hand_value_and_temperature() -> None:
    p = torch.tensor([[0.5, 0.5]])
    logits = torch.log(torch.tensor([[0.25, 0.75]]))
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert distillation_kl(logits, p, 1.0, t2_factor=False).item() == pytest.approx(expected, rel=1e-6)
    # Same student distribution at T = 2 needs logits doubled; the T^2 factor multiplies by 4.
    assert distillation_kl(2 * logits, p, 2.0, t2_factor=True).item() == pytest.approx(4 * expected, rel=1e-5)
    assert distillation_kl(torch.log(p), p, 1.0, False).item() == pytest.approx(0.0, abs=1e-7)


def test_gaussian_kl_closed_form() -> None:
    # d = 2, teacher N([0,0], 1 I), student N([1,1], 4 I):
    # d log(s_s/s_t) + (d s_t^2 + |dmu|^2) / (2 s_s^2) - d/2 = 2 log 2 + (2 + 2) / 8 - 1
    kl = gaussian_kl(torch.zeros(1, 2), torch.zeros(1), torch.ones(1, 2), torch.log(torch.tensor([4.0])))
    assert kl.item() == pytest.approx(2 * math.log(2) + 0.5 - 1, rel=1e-6)
    same = gaussian_kl(torch.ones(3, 2), torch.zeros(3), torch.ones(3, 2), torch.zeros(3))
    assert same.item() == pytest.approx(0.0, abs=1e-7)


def test_gaussian_kl_matches_torch_distributions() -> None:
    from torch.distributions import MultivariateNormal, kl_divergence

    mu_t, mu_s = torch.tensor([[0.3, -0.2]]), torch.tensor([[0.1, 0.4]])
    lv_t, lv_s = torch.tensor([-1.0]), torch.tensor([0.5])
    reference = kl_divergence(
        MultivariateNormal(mu_t[0], lv_t.exp() * torch.eye(2)),
        MultivariateNormal(mu_s[0], lv_s.exp() * torch.eye(2)),
    )
    assert gaussian_kl(mu_t, lv_t, mu_s, lv_s).item() == pytest.approx(reference.item(), rel=1e-5)


def test_gaussian_nll_hand_value() -> None:
    # ||y - mu||^2 / (2 s^2) + d log s with s^2 = e: 2 / (2e) + 2 * 0.5
    nll = gaussian_nll(torch.zeros(1, 2), torch.ones(1), torch.ones(1, 2))
    assert nll.item() == pytest.approx(1 / math.e + 1.0, rel=1e-6)


def test_moment_matched_gaussian() -> None:
    mus = torch.tensor([[[0.0, 0.0]], [[2.0, 0.0]]])  # K=2, N=1
    log_vars = torch.log(torch.tensor([[1.0], [3.0]]))
    mu, log_var = moment_matched_gaussian(mus, log_vars)
    assert mu.tolist() == [[1.0, 0.0]]
    # mean variance 2 + spread of means (|(-1,0)|^2 + |(1,0)|^2)/2 / d = 0.5
    assert log_var.exp().item() == pytest.approx(2.5)


def test_mixup_and_cutmix_keep_shape_and_report_lambda() -> None:
    torch.manual_seed(0)
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).view(2, 1, 8, 8)
    # Seeded so that both draws swap the pair: with the identity pairing every check below would hold vacuously.
    gen = torch.Generator().manual_seed(0)
    mixed, perm, lam = mixup(x, 1.0, gen)
    assert perm.tolist() == [1, 0] and mixed.shape == x.shape and 0 < lam < 1
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[perm])
    boxed, perm, lam = cutmix(x, 1.0, gen)
    assert perm.tolist() == [1, 0] and 0 < lam < 1
    from_partner = (boxed == x[perm]) & (boxed != x)
    assert from_partner.float().mean().item() == pytest.approx(1 - lam, abs=1e-6)
