"""A frozen teacher ensemble for the hot path: batch norms folded into the convolutions before them, the K
members' weights stacked and run as one vmapped call, optionally in bfloat16.

The eager reference loops over the K members (K x the kernel launches, BN as separate kernels). Folding removes
the BN kernels, stacking turns K launches per layer into one, and bf16 halves the bytes moved. Frozen members
never update their statistics, so folding is exact up to floating-point rounding."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call
from torch.fx.experimental.optimization import fuse


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` with every Conv->BN (and Linear->BN) pair merged into one layer.
    Models that torch.fx cannot trace are returned as an eval-mode copy, unfolded."""
    frozen = copy.deepcopy(model).eval().requires_grad_(False)
    try:
        return fuse(frozen, inplace=True)
    except Exception:  # an untraceable model (data-dependent control flow): correct, just not folded
        return frozen


class StackedTeachers:
    """K members of one architecture evaluated by a single vmapped functional call per layer.

    `dtype` (e.g. torch.bfloat16) casts the stacked weights once; inputs are cast to it on entry and outputs
    come back as float32, so callers see the same types as from the eager ensemble."""

    def __init__(
        self, members: list[nn.Module], device: torch.device, dtype: torch.dtype | None = None
    ) -> None:
        if not members:
            raise ValueError("a teacher ensemble needs at least one member")
        folded = [fold_batch_norms(m).to(device) for m in members]
        shapes = {tuple((k, tuple(v.shape)) for k, v in m.state_dict().items()) for m in folded}
        if len(shapes) != 1:
            raise ValueError("stacked teachers need members of one architecture and width")
        if dtype is not None:
            folded = [m.to(dtype) for m in folded]
        # Stacked by hand: torch.func.stack_module_state insists on one class, and every traced GraphModule
        # has its own. Plain detached tensors: nothing here is trained.
        self.params = _stack([dict(m.named_parameters()) for m in folded])
        self.buffers = _stack([dict(m.named_buffers()) for m in folded])
        self.base = copy.deepcopy(folded[0]).to("meta")
        self.dtype = dtype
        self.size = len(folded)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Raw outputs of every member, stacked [K, N, outputs], float32."""
        if self.dtype is not None:
            x = x.to(self.dtype)

        def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (p, b), (xb,))

        return torch.vmap(one, in_dims=(0, 0, None))(self.params, self.buffers, x).float()


def _stack(per_member: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {name: torch.stack([m[name].detach() for m in per_member]) for name in per_member[0]}


def eager_member_outputs(members: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """The reference: one forward per member, BN unfolded, in the input's dtype."""
    with torch.no_grad():
        return torch.stack([m(x) for m in members]).float()
