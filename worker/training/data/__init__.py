"""Dataset loaders by task name; each returns tensors ready to live on the training device."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from xclab.spec import RunSpec


@dataclass
class TaskData:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])


Loader = Callable[[RunSpec, dict], TaskData]
LOADERS: dict[str, Loader] = {}


def register_loader(task: str) -> Callable[[Loader], Loader]:
    def wrap(fn: Loader) -> Loader:
        LOADERS[task] = fn
        return fn

    return wrap


def load_task(spec: RunSpec, hparams: dict) -> TaskData:
    from worker.training.data import digits  # noqa: F401  (registers its loader)

    try:
        loader = LOADERS[spec.task]
    except KeyError:
        raise ValueError(f"no loader for task '{spec.task}'; available: {', '.join(sorted(LOADERS))}")
    return loader(spec, hparams)
