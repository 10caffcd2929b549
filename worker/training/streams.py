"""The run's random streams, all derived from its seed, one per purpose: the same seed gives every method
the same initial weights and the same (original) batches in every epoch, whatever else a method draws.

| stream    | drives                                                                   |
|-----------|--------------------------------------------------------------------------|
| init      | weight initialisation (the global torch RNG, forked while the model is built) |
| data      | training order (in-memory permutation, DataLoader shuffling and workers)  |
| augment   | crop/flip augmentation, on the batch's device                             |
| mixing    | MixUp/CutMix lambda, partner permutations, boxes, XCL coin flips, pool draws |
| samples   | generated inputs (renderer, GAN latents and class pairs)                  |
| pool      | the offline XCL-GAN pool, sampled once                                    |
| model     | what layers draw from the global RNG during training (dropout)            |

Seeds come from numpy's SeedSequence (run seed, stream index): independent streams, stable across versions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import torch

STREAMS = ("init", "data", "augment", "mixing", "samples", "pool", "model")
T = TypeVar("T")


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for `stream` of run `seed` (independent of every other stream)."""
    state = np.random.SeedSequence(entropy=seed, spawn_key=(STREAMS.index(stream),)).generate_state(2)
    return (int(state[0]) << 31 ^ int(state[1])) & (2**63 - 1)


class RunStreams:
    def __init__(self, seed: int, device: torch.device) -> None:
        self.seed, self.device = seed, device
        self.data = torch.Generator().manual_seed(derive_seed(seed, "data"))
        self.augment = torch.Generator(device=device).manual_seed(derive_seed(seed, "augment"))
        self.mixing = torch.Generator().manual_seed(derive_seed(seed, "mixing"))
        self.samples = torch.Generator().manual_seed(derive_seed(seed, "samples"))

    def build(self, make: Callable[[], T]) -> T:
        """Run `make` (a model constructor) on the init stream, then seed the global RNG with the model
        stream, so neither depends on what ran before (data loading, teacher loading)."""
        with _global_rng_seeded(derive_seed(self.seed, "init")):
            built = make()
        torch.manual_seed(derive_seed(self.seed, "model"))
        return built

    def state(self) -> dict[str, Any]:
        """Every stream's position, as tensors (a checkpoint loads with weights_only=True)."""
        return {
            "data": self.data.get_state(),
            "augment": self.augment.get_state(),
            "mixing": self.mixing.get_state(),
            "samples": self.samples.get_state(),
            "model": torch.get_rng_state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.data.set_state(state["data"])
        self.augment.set_state(state["augment"])
        self.mixing.set_state(state["mixing"])
        self.samples.set_state(state["samples"])
        torch.set_rng_state(state["model"])


@contextmanager
def _global_rng_seeded(seed: int) -> Iterator[None]:
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def beta(alpha: float, generator: torch.Generator) -> float:
    """lambda ~ Beta(alpha, alpha) drawn from `generator` (torch's Beta only samples the global RNG)."""
    if alpha <= 0:
        return 1.0
    sub_seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    return float(np.random.default_rng(sub_seed).beta(alpha, alpha))
