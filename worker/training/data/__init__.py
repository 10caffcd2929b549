"""Dataset loaders by task name.

A loader returns a `TaskData`. Small and medium datasets (digits, synthetic-gaze, MPIIGaze, CIFAR-100) are
held as tensors so the trainer can keep them on the device and batch by indexing (no DataLoader workers);
their augmentation runs on whole batches on the device. ImageNet-sized data comes as torch Datasets instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from xclab.spec import RunSpec

# (batch on device, torch.Generator on the same device) -> augmented batch; used only for training batches.
BatchTransform = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]


@dataclass
class TaskData:
    kind: Literal["classification", "regression"]
    # Classification: number of classes. Regression (gaze): target dimension (2: pitch, yaw in radians).
    num_outputs: int
    train_x: torch.Tensor | None = None
    train_y: torch.Tensor | None = None
    test_x: torch.Tensor | None = None
    test_y: torch.Tensor | None = None
    # Turns stored inputs (e.g. uint8 images) into normalised float model inputs, batch-wise on the device.
    prepare: BatchTransform | None = None
    # Training-time augmentation (crop/flip), applied after `prepare`.
    augment: BatchTransform | None = None
    # For datasets too big for memory (ImageNet): map-style datasets yielding (image tensor, target).
    train_dataset: Dataset[Any] | None = None
    test_dataset: Dataset[Any] | None = None
    # Extra facts worth storing with the run (split sizes, protocol, held-out persons...).
    info: dict[str, Any] | None = None
    # Optional per-sample side inputs aligned with train_x/test_x, e.g. gaze head pose (pitch, yaw) [N, 2]
    # that MPIIGaze-style LeNets concatenate before their last layer. Models may ignore them.
    train_aux: torch.Tensor | None = None
    test_aux: torch.Tensor | None = None

    @property
    def in_memory(self) -> bool:
        return self.train_x is not None

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.train_x is not None:
            return tuple(self.train_x.shape[1:])
        sample, _ = self.train_dataset[0]  # type: ignore[index]
        return tuple(sample.shape)


Loader = Callable[[RunSpec, dict[str, Any]], TaskData]
LOADERS: dict[str, Loader] = {}


def register_loader(task: str) -> Callable[[Loader], Loader]:
    def wrap(fn: Loader) -> Loader:
        LOADERS[task] = fn
        return fn

    return wrap


def _load_all() -> None:
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def load_task(spec: RunSpec, hparams: dict[str, Any]) -> TaskData:
    _load_all()
    try:
        loader = LOADERS[spec.task]
    except KeyError:
        raise ValueError(f"no loader for task '{spec.task}'; available: {', '.join(sorted(LOADERS))}")
    return loader(spec, hparams)
