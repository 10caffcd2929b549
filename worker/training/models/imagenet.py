"""Plain torchvision ResNet-50/101 for ImageNet (App. A.5: regular ResNets, not the -D variant).

Always built from scratch (weights=None): nothing is downloaded. Width scaling is not offered for these.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torchvision import models as tvm

from worker.training.models import register_model
from worker.training.models.common import check_image_shape


def _build(
    name: str, factory: Callable[..., nn.Module], num_outputs: int, width: float, input_shape: tuple[int, ...]
) -> nn.Module:
    if width != 1.0:
        raise ValueError(f"{name}: field 'width' must be 1.0 (this model is not width-scalable), got {width}")
    c, _, _ = check_image_shape(input_shape, name)
    if c != 3:
        raise ValueError(f"{name}: expects 3-channel images, input_shape is {input_shape}")
    return factory(weights=None, num_classes=num_outputs)


@register_model("resnet50")
def resnet50(*, num_outputs: int, width: float, input_shape: tuple[int, ...]) -> nn.Module:
    return _build("resnet50", tvm.resnet50, num_outputs, width, input_shape)


@register_model("resnet101")
def resnet101(*, num_outputs: int, width: float, input_shape: tuple[int, ...]) -> nn.Module:
    return _build("resnet101", tvm.resnet101, num_outputs, width, input_shape)
