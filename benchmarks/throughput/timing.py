"""Warm up, then time a fixed number of steps with the device synchronised at both ends."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from benchmarks.throughput.sizes import Sizes


@dataclass
class Measurement:
    images_per_s: float
    steps: int
    seconds: float
    note: str = ""


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_steps(
    step: Callable[[], None], sizes: Sizes, images_per_step: int, device: torch.device, note: str = ""
) -> Measurement:
    for _ in range(sizes.warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(sizes.steps):
        step()
    sync(device)
    seconds = time.perf_counter() - t0
    return Measurement(images_per_step * sizes.steps / seconds, sizes.steps, seconds, note)
