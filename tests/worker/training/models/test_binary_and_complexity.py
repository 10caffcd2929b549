"""1-bit weight convolution (sign x per-channel mean |w|, straight-through gradient) and MAC counting."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from worker.training.models import build_model
from worker.training.models.binary import BinaryConv2d, sign_ste
from worker.training.models.complexity import count_macs, count_parameters, measure


def _hand_binarised(w: torch.Tensor) -> torch.Tensor:
    signs = torch.where(w >= 0, 1.0, -1.0)  # sign(0) = +1
    scale = torch.stack([w[o].abs().mean() for o in range(w.shape[0])]).view(-1, 1, 1, 1)
    return signs * scale


def test_binary_conv_forward_uses_sign_times_channel_scale() -> None:
    torch.manual_seed(0)
    conv = BinaryConv2d(2, 3, 3, padding=1, bias=True)
    with torch.no_grad():
        conv.weight[0, 0, 0, 0] = 0.0  # sign(0) must count as +1
        conv.weight[1].mul_(5.0)  # channels get different scales
    expected_w = _hand_binarised(conv.weight.detach())
    assert torch.allclose(expected_w[0].abs(), conv.weight[0].abs().mean().expand(2, 3, 3))
    assert torch.allclose(conv.binary_weight(), expected_w)
    x = torch.randn(2, 2, 5, 5)
    assert torch.allclose(conv(x), F.conv2d(x, expected_w, conv.bias, padding=1), atol=1e-6)
    conv.eval()  # eval gives the same weights (nothing stale is cached)
    assert torch.allclose(conv(x), F.conv2d(x, expected_w, conv.bias, padding=1), atol=1e-6)


@pytest.mark.parametrize("clip", [1.0, None])
def test_binary_conv_gradient_is_straight_through(clip: float | None) -> None:
    conv = BinaryConv2d(1, 2, 1, bias=False, ste_clip=clip)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([0.5, 3.0]).view(2, 1, 1, 1))  # 3.0 lies outside the clip range
    upstream = torch.tensor([2.0, -1.0]).view(2, 1, 1, 1)
    (conv.binary_weight() * upstream).sum().backward()
    scale = torch.tensor([0.5, 3.0]).view(2, 1, 1, 1)  # mean |w| of each one-weight channel; no grad
    mask = torch.tensor([1.0, 0.0 if clip is not None else 1.0]).view(2, 1, 1, 1)
    assert torch.allclose(conv.weight.grad, upstream * scale * mask)


def test_sign_ste_is_identity_inside_the_clip() -> None:
    w = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.0, 1.5], requires_grad=True)
    out = sign_ste(w)
    assert out.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0]
    out.backward(torch.arange(1.0, 7.0))
    assert w.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 0.0]


def test_macs_of_toy_conv_and_linear_model() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 8*10*10 outputs x 3*3*3 = 21,600
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2),  # 8*5*5 outputs x (8/2)*3*3 = 7,200
        nn.Flatten(),
        nn.Linear(200, 5),  # 5 x 200 = 1,000
    )
    assert count_macs(model, (3, 10, 10)) == 21_600 + 7_200 + 1_000
    assert count_parameters(model) == (8 * 27 + 8) + (8 * 4 * 9 + 8) + (200 * 5 + 5)


def test_measure_reports_binary_macs_and_leaves_model_state_alone() -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),  # 4*6*6 x 9 = 1,296 full precision
        nn.BatchNorm2d(4),
        BinaryConv2d(4, 4, 3, padding=1),  # 4*6*6 x 36 = 5,184 binary
        nn.Flatten(),
        nn.Linear(144, 2),  # 288 full precision
    )
    model.train()
    before = model[1].running_mean.clone()
    c = measure(model, (1, 6, 6))
    assert (c.macs, c.binary_macs, c.fp_macs) == (1_296 + 5_184 + 288, 5_184, 1_296 + 288)
    assert model.training and torch.equal(model[1].running_mean, before)


def test_resnet18_cifar_macs_match_the_published_count() -> None:
    model = build_model("resnet18-cifar", num_outputs=100, width=1.0, input_shape=(3, 32, 32))
    assert count_macs(model, (3, 32, 32)) == pytest.approx(0.555e9, rel=0.005)  # ml-facts B3: 0.555 GMAC
    binary = build_model(
        "binary-resnet18", num_outputs=100, width=1.0, input_shape=(3, 32, 32), block="basic"
    )
    c = measure(binary, (3, 32, 32))
    assert c.macs == count_macs(model, (3, 32, 32))  # same layout, only the weight precision differs
    assert 0.95 * c.macs < c.binary_macs < c.macs  # stem, shortcuts and fc stay full precision
