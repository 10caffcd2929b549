"""Training methods by catalog name: each turns a batch into a loss for the student."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn
from torch.nn import functional as F

from xclab.spec import RunSpec


class Method(Protocol):
    name: str

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (loss, logits on the clean batch) for one training step."""
        ...


class ERM:
    """Plain cross-entropy on the labelled batch."""

    name = "erm"

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(x)
        return F.cross_entropy(logits, y), logits


def build_method(spec: RunSpec) -> Method:
    if spec.method.name == "erm":
        return ERM()
    raise ValueError(f"method '{spec.method.name}' is not implemented by this engine")
