"""Model zoo: every registered model builds, runs forward and backward, and has the paper's size."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from worker.training.models import build_model, registered_models
from worker.training.models.binary import BinaryConv2d
from worker.training.models.complexity import count_parameters
from worker.training.models.pyramidnet import PyramidBasicBlock, PyramidBottleneck

GAZE = (1, 37, 60)  # eye image + head pose row (worker.training.data.gaze_input)
EYE_ONLY = (1, 36, 60)
CIFAR = (3, 32, 32)

# name -> cases of (num_outputs, input_shape, options) small enough for a CPU forward + backward. The
# CIFAR ResNets run at width 0.5 here to keep the file fast; full width is covered by the size tests.
CASES: dict[str, list[tuple[int, tuple[int, ...], dict[str, Any]]]] = {
    "small-cnn": [(10, (1, 8, 8), {}), (10, (1, 8, 8), {"binary": True})],
    "lenet": [
        (3, GAZE, {}),
        (2, GAZE, {"uncertainty": False}),
        (3, GAZE, {"conv_relu": True}),
        (3, EYE_ONLY, {"head_pose": False}),
    ],
    "preact-resnet9": [(3, GAZE, {}), (2, GAZE, {"uncertainty": False}), (3, GAZE, {"head_pose": False})],
    "resnet18-cifar": [(100, CIFAR, {})],
    "binary-resnet18": [(100, CIFAR, {}), (10, CIFAR, {"block": "basic", "ste_clip": None})],
    "pyramidnet": [(100, CIFAR, {"depth": 20, "alpha": 48}), (10, CIFAR, {"depth": 29, "alpha": 24})],
    "resnet50": [(10, (3, 64, 64), {})],
    "resnet101": [(10, (3, 64, 64), {})],
}
PARAMS = [(name, *case) for name, cases in CASES.items() for case in cases]


def test_every_registered_model_has_a_case() -> None:
    missing = set(registered_models()) - set(CASES)
    assert not missing, f"add forward/backward cases for {sorted(missing)}"
    assert set(CASES) <= set(registered_models())


@pytest.mark.parametrize(("name", "num_outputs", "input_shape", "options"), PARAMS)
def test_forward_backward(
    name: str, num_outputs: int, input_shape: tuple[int, ...], options: dict[str, Any]
) -> None:
    torch.manual_seed(0)
    width = 0.5 if name in ("resnet18-cifar", "binary-resnet18") else 1.0
    model = build_model(name, num_outputs=num_outputs, width=width, input_shape=input_shape, **options)
    model.train()
    x = torch.randn(2, *input_shape, requires_grad=True)
    out = model(x)
    assert out.shape == (2, num_outputs)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_resnet18_cifar_parameter_count() -> None:
    model = build_model("resnet18-cifar", num_outputs=100, width=1.0, input_shape=CIFAR)
    assert count_parameters(model) == 11_220_132  # the usual CIFAR ResNet-18 with a 100-way head


def test_pyramidnet_200_240_parameter_count_and_blocks() -> None:
    model = build_model("pyramidnet", num_outputs=100, width=1.0, input_shape=CIFAR)  # defaults 200 / 240
    assert count_parameters(model) == pytest.approx(26.8e6, rel=0.01)  # ml-facts A6: 26.8 M
    kinds = {type(m) for m in model.modules() if isinstance(m, PyramidBottleneck | PyramidBasicBlock)}
    assert kinds == {PyramidBottleneck}  # depth >= 164 uses bottlenecks: (200 - 2) / 9 = 22 per stage
    assert sum(isinstance(m, PyramidBottleneck) for m in model.modules()) == 66
    assert model.fc.in_features == 4 * (16 + 240)  # the last block reaches 16 + alpha channels, x4


def test_pyramidnet_small_depth_uses_basic_blocks_and_rejects_bad_depth() -> None:
    model = build_model("pyramidnet", num_outputs=10, width=1.0, input_shape=CIFAR, depth=110, alpha=48)
    assert count_parameters(model) == pytest.approx(1.7e6, rel=0.05)  # Han et al.: 1.7 M on CIFAR
    assert not any(isinstance(m, PyramidBottleneck) for m in model.modules())
    auto = build_model("pyramidnet", num_outputs=10, width=1.0, input_shape=CIFAR, depth=29, alpha=24)
    assert any(isinstance(m, PyramidBottleneck) for m in auto.modules())  # 29 = 9*3 + 2 only fits bottlenecks
    with pytest.raises(ValueError, match="depth"):
        build_model("pyramidnet", num_outputs=10, width=1.0, input_shape=CIFAR, depth=21)


def test_torchvision_resnet_sizes_and_no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.models._api as api

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("tried to download weights")

    monkeypatch.setattr(api, "load_state_dict_from_url", refuse)
    r50 = build_model("resnet50", num_outputs=1000, width=1.0, input_shape=(3, 224, 224))
    r101 = build_model("resnet101", num_outputs=1000, width=1.0, input_shape=(3, 224, 224))
    assert count_parameters(r50) == 25_557_032
    assert count_parameters(r101) == 44_549_160


@pytest.mark.parametrize("name", ["resnet50", "resnet101"])
def test_torchvision_resnet_rejects_width(name: str) -> None:
    with pytest.raises(ValueError, match="width"):
        build_model(name, num_outputs=10, width=0.5, input_shape=(3, 64, 64))


def test_lenet_parameter_count() -> None:
    model = build_model("lenet", num_outputs=3, width=1.0, input_shape=GAZE)
    # conv 1->20 5x5, conv 20->50 5x5, fc 50*6*12 -> 500, fc 500 + 2 (head pose) -> 3 (all with biases)
    expected = (20 * 25 + 20) + (50 * 20 * 25 + 50) + (3600 * 500 + 500) + (502 * 3 + 3)
    assert count_parameters(model) == expected


@pytest.mark.parametrize("name", ["lenet", "preact-resnet9"])
def test_head_pose_reaches_the_last_layer_only_when_asked(name: str) -> None:
    torch.manual_seed(0)
    x = torch.rand(4, *GAZE)
    moved = x.clone()
    moved[:, 0, 36, :2] += 0.3  # the pose row (pitch, yaw)
    with_pose = build_model(name, num_outputs=3, width=0.25, input_shape=GAZE).eval()
    assert not torch.allclose(with_pose(x), with_pose(moved))
    image_only = build_model(name, num_outputs=3, width=0.25, input_shape=GAZE, head_pose=False).eval()
    assert torch.equal(image_only(x), image_only(moved))
    with pytest.raises(ValueError, match="head_pose=True needs the gaze input"):
        build_model(name, num_outputs=3, width=0.25, input_shape=EYE_ONLY)


@pytest.mark.parametrize(
    ("name", "num_outputs", "input_shape", "options"),
    [
        ("lenet", 3, GAZE, {}),
        ("preact-resnet9", 3, GAZE, {}),
        ("resnet18-cifar", 100, CIFAR, {}),
        ("binary-resnet18", 100, CIFAR, {}),
        ("pyramidnet", 100, CIFAR, {"depth": 20, "alpha": 48}),
    ],
)
def test_width_scaling_reduces_parameters(
    name: str, num_outputs: int, input_shape: tuple[int, ...], options: dict[str, Any]
) -> None:
    sizes = [
        count_parameters(
            build_model(name, num_outputs=num_outputs, width=w, input_shape=input_shape, **options)
        )
        for w in (0.25, 0.5, 1.0)
    ]
    assert sizes[0] < sizes[1] < sizes[2]


def test_tiny_width_keeps_at_least_one_channel() -> None:
    model = build_model("resnet18-cifar", num_outputs=10, width=0.001, input_shape=CIFAR)
    assert model(torch.randn(2, *CIFAR)).shape == (2, 10)


@pytest.mark.parametrize("name", ["lenet", "preact-resnet9"])
def test_uncertainty_head(name: str) -> None:
    model = build_model(name, num_outputs=3, width=0.5, input_shape=GAZE)
    out = model(torch.randn(2, *GAZE))
    assert out.shape == (2, 3)
    assert torch.isfinite(out).all()  # [mu_pitch, mu_yaw, log sigma^2]: any real value is a valid Gaussian
    with pytest.raises(ValueError, match="num_outputs=3"):
        build_model(name, num_outputs=2, width=1.0, input_shape=GAZE)  # uncertainty defaults to True
    plain = build_model(name, num_outputs=2, width=0.5, input_shape=GAZE, uncertainty=False)
    assert plain(torch.randn(2, *GAZE)).shape == (2, 2)


@pytest.mark.parametrize("block", ["xnor", "basic"])
def test_binary_resnet18_keeps_first_last_and_downsampling_full_precision(block: str) -> None:
    model = build_model("binary-resnet18", num_outputs=100, width=1.0, input_shape=CIFAR, block=block)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    binary = [m for m in convs if isinstance(m, BinaryConv2d)]
    full = [m for m in convs if not isinstance(m, BinaryConv2d)]
    assert len(binary) == 16 and all(m.kernel_size == (3, 3) for m in binary)  # 8 blocks x 2 convs
    assert full[0].in_channels == 3  # the stem
    assert len(full) == 1 + 3 and all(m.kernel_size == (1, 1) for m in full[1:])  # + 3 projection shortcuts
    assert isinstance(model.fc, nn.Linear)
