"""1-bit weight convolution (XNOR-Net / least-squares 1-bit scaling, as in apple/ml-quant `ls-1`).

Forward uses W_q[o] = mean(|W[o]|) * sign(W[o]) per output channel o, with sign(0) = +1. The scale is
computed on a detached copy (no gradient through it); the sign uses a straight-through estimator whose
gradient is the identity, zeroed where |w| > ste_clip (1 by default; None keeps it unclipped). The
optimiser updates the latent full-precision weights.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, w: torch.Tensor, clip: float | None) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(w)
        ctx.clip = clip
        # torch.sign maps 0 to 0, which would drop a weight entirely; 1-bit codes have only +-1.
        return torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (w,) = ctx.saved_tensors
        if ctx.clip is not None:
            grad = grad * (w.abs() <= ctx.clip).to(grad.dtype)
        return grad, None


def sign_ste(w: torch.Tensor, clip: float | None = 1.0) -> torch.Tensor:
    """sign(w) in {-1, +1} with a (clipped) straight-through gradient."""
    return _SignSTE.apply(w, clip)  # type: ignore[no-any-return]


class BinaryConv2d(nn.Conv2d):
    """nn.Conv2d whose weight is binarised per output channel on every forward pass.

    The scale is recomputed each call rather than cached (ml-quant caches it for eval): the latent
    weights are fixed in eval, so the result is the same and a fresh model never sees a zero cache.
    The bias, if any, stays full precision.
    """

    def __init__(self, *args: Any, ste_clip: float | None = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ste_clip = ste_clip

    def binary_scale(self) -> torch.Tensor:
        """mean |W| per output channel, shape [out, 1, 1, 1]; the least-squares optimum for one bit."""
        return self.weight.detach().abs().mean(dim=(1, 2, 3), keepdim=True)

    def binary_weight(self) -> torch.Tensor:
        return self.binary_scale() * sign_ste(self.weight, self.ste_clip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.binary_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, binary=True, ste_clip={self.ste_clip}"
