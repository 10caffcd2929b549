"""Workload sizes: the real shapes on a GPU, tiny ones for the CPU smoke run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    cifar_images: int  # synthetic CIFAR-shaped training set (uint8 [N, 3, 32, 32])
    batch: int  # ERM / original samples per XCL step
    width: float  # ResNet-18 width multiplier
    teachers: int  # XCL ensemble size
    steps: int  # timed steps per measurement
    warmup: int  # untimed steps before each measurement (cudnn autotune, graph capture, workers starting)
    gaze_images: int
    gaze_batch: int
    loader_workers: int


GPU = Sizes(
    cifar_images=50_000, batch=128, width=1.0, teachers=8, steps=200, warmup=30,
    gaze_images=45_000, gaze_batch=32, loader_workers=8,
)  # fmt: skip
CPU_TINY = Sizes(
    cifar_images=96, batch=16, width=0.125, teachers=2, steps=3, warmup=1,
    gaze_images=128, gaze_batch=32, loader_workers=0,
)  # fmt: skip
