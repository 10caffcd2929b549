"""Model size and cost: parameters and multiply-accumulates (MACs) of Conv2d and Linear layers.

MACs are counted from one forward pass of a single all-zero input with hooks, so they follow whatever
the model actually runs (strides, pooling, input size). Per layer: output elements x (in_channels /
groups) x kernel area for a conv, output elements x in_features for a linear layer. Biases, BN, pooling
and activations are not counted (the usual convention, e.g. torchvision's GFLOPS column for ResNet-50).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from worker.training.models.binary import BinaryConv2d


@dataclass(frozen=True)
class Complexity:
    params: int
    macs: int  # all Conv2d + Linear MACs, 1-bit ones included
    binary_macs: int  # the part of `macs` done by BinaryConv2d layers (1-bit weights)

    @property
    def fp_macs(self) -> int:
        return self.macs - self.binary_macs


def count_parameters(model: nn.Module) -> int:
    """All parameters, trainable or not (shared tensors counted once)."""
    return sum(p.numel() for p in model.parameters())


def _layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    per_sample = output.numel() // output.shape[0]
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return per_sample * (module.in_channels // module.groups) * kh * kw
    assert isinstance(module, nn.Linear)
    return per_sample * module.in_features


def measure(model: nn.Module, input_shape: tuple[int, ...]) -> Complexity:
    """Params and MACs for one sample of shape `input_shape` (no batch dimension).

    Runs in eval mode under no_grad so BN running statistics are untouched, and restores the mode. The
    input is created on the model's device (CPU in the intended use).
    """
    totals = {"macs": 0, "binary": 0}

    def hook(module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        macs = _layer_macs(module, output)
        totals["macs"] += macs
        if isinstance(module, BinaryConv2d):
            totals["binary"] += macs

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return Complexity(count_parameters(model), totals["macs"], totals["binary"])


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of Conv2d and Linear layers for one input of shape `input_shape`."""
    return measure(model, input_shape).macs
