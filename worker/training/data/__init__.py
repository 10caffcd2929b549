"""Dataset loaders by task name, and what a task's loader file may register besides its loader: the error
function of a new regression target, and a built-in input generator for XCL-GAN.

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

from worker.training.registry import Registry
from xclab.catalog import TASKS
from xclab.hparams import DataHparams
from xclab.spec import RunSpec

# (batch on device, torch.Generator on the same device) -> augmented batch; used only for training batches.
BatchTransform = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]


@dataclass
class TaskData:
    kind: Literal["classification", "regression"]
    # Classification: number of classes. Regression: the target's dimension (gaze: 2, pitch and yaw in radians).
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
    # A validation split the loader defines itself (in-memory tasks); the trainer logs val_* metrics on it.
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None
    # Further test sets (e.g. ImageNetV2's variants) by metric prefix: the final model is scored on each once
    # training ends, next to the test split, and never used for any choice.
    extra_test_datasets: dict[str, Dataset[Any]] | None = None

    @property
    def in_memory(self) -> bool:
        return self.train_x is not None

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.train_x is not None:
            return tuple(self.train_x.shape[1:])
        sample, _ = self.train_dataset[0]  # type: ignore[index]
        return tuple(sample.shape)


Loader = Callable[[RunSpec, DataHparams], TaskData]
# (predicted targets [N, d], true targets [N, d]) -> per-sample error in the unit of the catalog's error metric.
RegressionError = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# (n, torch.Generator) -> n model-ready inputs (prepared, on the generator's device).
InputGenerator = Callable[[int, torch.Generator], torch.Tensor]

LOADERS: Registry[Loader] = Registry("loader", __name__)
REGRESSION_ERRORS: Registry[RegressionError] = Registry("regression target", __name__)
INPUT_GENERATORS: Registry[InputGenerator] = Registry("input generator", __name__)

register_loader = LOADERS.register
register_regression_error = REGRESSION_ERRORS.register
register_input_generator = INPUT_GENERATORS.register


def load_task(spec: RunSpec, hparams: DataHparams) -> TaskData:
    loader = LOADERS.get(spec.task)
    if loader is None:
        raise ValueError(f"no loader for task '{spec.task}'; available: {', '.join(LOADERS.names())}")
    data = loader(spec, hparams)
    if data.kind != TASKS[spec.task].kind:
        raise ValueError(f"the loader of '{spec.task}' returned {data.kind} data; the catalog says otherwise")
    return data


def regression_error(target: str) -> RegressionError:
    error = REGRESSION_ERRORS.get(target)
    if error is None:
        raise ValueError(f"no error function for regression target '{target}'")
    return error


def input_generator(name: str) -> InputGenerator:
    draw = INPUT_GENERATORS.get(name)
    if draw is None:
        raise ValueError(f"no input generator '{name}'; available: {', '.join(INPUT_GENERATORS.names())}")
    return draw
