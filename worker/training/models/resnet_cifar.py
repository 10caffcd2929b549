"""CIFAR ResNet-18 (3x3 stride-1 stem, no max-pool, stages 64-128-256-512) and its 1-bit-weight variant.

`resnet18-cifar` is the usual CIFAR layout (kuangliu/pytorch-cifar, DeVries & Taylor): 11,220,132 params
for 100 classes. `binary-resnet18` follows apple/ml-quant's CIFAR-100 `ls-1` weight / fp activation
config (the implementation the XCL supplement, App. A.4, says it reuses): only the 3x3 convs inside the
residual blocks are 1-bit; the stem conv, the 1x1 down-sampling shortcuts and the classifier stay full
precision.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from worker.training.models import register_model
from worker.training.models.binary import BinaryConv2d
from worker.training.models.common import check_image_shape, check_width, scale_channels

STAGE_CHANNELS = (64, 128, 256, 512)
RESNET18_BLOCKS = (2, 2, 2, 2)


def _projection(cin: int, cout: int, stride: int, bias: bool = False) -> nn.Module:
    """1x1 conv + BN where the shape changes, identity otherwise; always full precision."""
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=bias), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """Post-activation basic block (conv-BN-ReLU-conv-BN, add, ReLU); convs optionally 1-bit."""

    def __init__(self, cin: int, cout: int, stride: int, binary: bool = False, ste_clip: float | None = 1.0):
        super().__init__()

        def conv(i: int, o: int, s: int) -> nn.Conv2d:
            if binary:
                return BinaryConv2d(i, o, 3, stride=s, padding=1, bias=False, ste_clip=ste_clip)
            return nn.Conv2d(i, o, 3, stride=s, padding=1, bias=False)

        self.conv1, self.bn1 = conv(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv(cout, cout, 1), nn.BatchNorm2d(cout)
        self.shortcut = _projection(cin, cout, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class XnorBlock(nn.Module):
    """ml-quant's `XnorBasicBlock` with double shortcut, weights 1-bit and activations full precision.

    Order BN -> clamp[-a, a] -> 1-bit conv (with bias) -> ReLU, after XNOR-Net; a shortcut around each
    conv (Bi-Real Net) keeps real-valued information flowing past the binary convs. The clamp is what
    ml-quant applies to the conv input even with fp activations (`clamp: symmetric, alpha: 2`).
    """

    def __init__(self, cin: int, cout: int, stride: int, ste_clip: float | None = 1.0, clamp: float = 2.0):
        super().__init__()
        self.clamp = clamp
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = BinaryConv2d(cin, cout, 3, stride=stride, padding=1, bias=True, ste_clip=ste_clip)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = BinaryConv2d(cout, cout, 3, stride=1, padding=1, bias=True, ste_clip=ste_clip)
        self.shortcut = _projection(cin, cout, stride, bias=True)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = self.relu(self.conv1(self.bn1(x).clamp(-self.clamp, self.clamp))) + self.shortcut(x)
        out2 = self.relu(self.conv2(self.bn2(out1).clamp(-self.clamp, self.clamp)))
        return out2 + out1


class CifarResNet(nn.Module):
    def __init__(
        self,
        num_outputs: int,
        width: float = 1.0,
        in_channels: int = 3,
        blocks: tuple[int, ...] = RESNET18_BLOCKS,
        block: Literal["basic", "binary-basic", "xnor"] = "basic",
        ste_clip: float | None = 1.0,
    ) -> None:
        super().__init__()
        check_width(width)
        channels = [scale_channels(c, width) for c in STAGE_CHANNELS]
        # The stem stays full precision in every variant (XNOR-Net / ml-quant keep the first layer real).
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        cin = channels[0]
        for stage, (cout, n) in enumerate(zip(channels, blocks, strict=True)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                if block == "xnor":
                    layers.append(XnorBlock(cin, cout, stride, ste_clip=ste_clip))
                else:
                    layers.append(
                        BasicBlock(cin, cout, stride, binary=block == "binary-basic", ste_clip=ste_clip)
                    )
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.layers(self.stem(x))).flatten(1))


@register_model("resnet18-cifar")
def resnet18_cifar(*, num_outputs: int, width: float, input_shape: tuple[int, ...]) -> nn.Module:
    c, _, _ = check_image_shape(input_shape, "resnet18-cifar")
    return CifarResNet(num_outputs, width, in_channels=c)


@register_model("binary-resnet18")
def binary_resnet18(
    *,
    num_outputs: int,
    width: float,
    input_shape: tuple[int, ...],
    block: str = "xnor",
    ste_clip: float | None = 1.0,
) -> nn.Module:
    """Binary-weight ResNet-18 for CIFAR.

    Options: `block` "xnor" (default; ml-quant's XNOR block with double shortcut, as in the paper's
    binary runs) or "basic" (the resnet18-cifar block with its 3x3 convs made 1-bit); `ste_clip` zeroes
    the straight-through gradient where |w| exceeds it (None: plain identity).
    """
    c, _, _ = check_image_shape(input_shape, "binary-resnet18")
    if block not in ("xnor", "basic"):
        raise ValueError(f"binary-resnet18: option 'block' must be 'xnor' or 'basic', got {block!r}")
    return CifarResNet(
        num_outputs,
        width,
        in_channels=c,
        block="xnor" if block == "xnor" else "binary-basic",
        ste_clip=None if ste_clip is None else float(ste_clip),
    )
