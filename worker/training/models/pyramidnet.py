"""PyramidNet for CIFAR (Han et al. 2017), laid out as dyhan0920/PyramidNet-PyTorch (used by CutMix).

Three stages (strides 1, 2, 2) of n blocks each; the block width starts at 16 and grows by alpha / (3n)
after every block, rounded with Python's round as in the reference. Shortcuts are identity (2x2
average-pooled where the block strides), zero-padded to the new channel count, so they hold no
parameters. Blocks are pre-activation without a ReLU before the first conv and with a BN closing the
residual branch; the stem has BN but no ReLU. Depth 200, alpha 240, bottleneck is the XCL CIFAR100
teacher (App. A.3): 26,844,952 parameters for 100 classes (26.8M published), 4.52 GMAC at 32x32.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from worker.training.models import register_model
from worker.training.models.common import check_bool, check_image_shape, check_width


def _add_padded(out: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
    """out + shortcut, the shortcut zero-padded in channels (PyramidNet's parameter-free widening)."""
    extra = out.shape[1] - shortcut.shape[1]
    if extra > 0:
        shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, extra))
    return out + shortcut


class PyramidBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        # ceil_mode keeps odd feature maps aligned with the strided conv's output size.
        self.down = nn.AvgPool2d(2, 2, ceil_mode=True) if stride != 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.bn1(x))
        out = self.bn3(self.conv2(self.relu(self.bn2(out))))
        return _add_padded(out, self.down(x))


class PyramidBottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn4 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.down = nn.AvgPool2d(2, 2, ceil_mode=True) if stride != 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.bn1(x))
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.bn4(self.conv3(self.relu(self.bn3(out))))
        return _add_padded(out, self.down(x))


class PyramidNet(nn.Module):
    def __init__(
        self,
        num_outputs: int,
        depth: int = 200,
        alpha: float = 240,
        bottleneck: bool | None = None,
        width: float = 1.0,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        check_width(width)
        if bottleneck is None:
            # Han et al. use bottlenecks for their deep (164/200/272) CIFAR nets; a depth only one block
            # type can realise (e.g. 29 = 9*3 + 2) picks that type.
            bottleneck = depth >= 164 if (depth - 2) % 6 == 0 else (depth - 2) % 9 == 0
        per_block = 9 if bottleneck else 6
        if depth < 2 + per_block or (depth - 2) % per_block:
            kind = "bottleneck" if bottleneck else "basic"
            raise ValueError(
                f"pyramidnet: depth must be 9n+2 (bottleneck) / 6n+2 (basic), got {depth} ({kind})"
            )
        if alpha < 0:
            raise ValueError(f"pyramidnet: alpha must be >= 0, got {alpha}")
        n = (depth - 2) // per_block
        block = PyramidBottleneck if bottleneck else PyramidBasicBlock
        # Width scales the whole channel schedule (start 16 and the total increase alpha) together.
        dim = 16.0 * width
        add = alpha * width / (3 * n)
        cin = max(1, round(dim))

        self.conv1 = nn.Conv2d(in_channels, cin, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        layers: list[nn.Module] = []
        for stage in range(3):
            for i in range(n):
                dim += add
                planes = max(1, round(dim))  # Python round (half to even), as in the reference code
                layers.append(block(cin, planes, 2 if stage > 0 and i == 0 else 1))
                cin = planes * block.expansion
        self.layers = nn.Sequential(*layers)
        self.bn_final = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_outputs)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # He init on fan-out, as in the reference implementation
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.bn1(self.conv1(x)))  # no ReLU after the stem, as in the reference
        return self.fc(self.pool(self.relu(self.bn_final(x))).flatten(1))


@register_model("pyramidnet")
def pyramidnet(
    *,
    num_outputs: int,
    width: float,
    input_shape: tuple[int, ...],
    depth: int = 200,
    alpha: float = 240,
    bottleneck: bool | None = None,
) -> nn.Module:
    """Options: `depth` (default 200), `alpha` (total channel widening, default 240), `bottleneck`
    (default: True for depth >= 164 or a depth of the form 9n+2 only, else basic blocks)."""
    c, _, _ = check_image_shape(input_shape, "pyramidnet")
    if bottleneck is not None:
        check_bool("pyramidnet", "bottleneck", bottleneck)
    if isinstance(depth, bool) or int(depth) != depth:
        raise ValueError(f"pyramidnet: option 'depth' must be an integer, got {depth!r}")
    return PyramidNet(
        num_outputs, depth=int(depth), alpha=float(alpha), bottleneck=bottleneck, width=width, in_channels=c
    )
