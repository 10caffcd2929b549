"""What every method implements (`Method` for a student, `GeneratorTrainer` for a generator run) and what it
may use (`MethodContext`); the conventions all methods share are in the package's docstring."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from torch import nn
from torch.nn import functional as F

from worker.training.batches import Batches
from worker.training.hooks import Hooks, TrainResult
from worker.training.losses import gaussian_nll, split_gaussian
from worker.training.teachers import TeacherEnsemble
from xclab.catalog import MethodParams, TaskInfo
from xclab.hparams import Hparams
from xclab.spec import RunSpec

Sampler = Callable[[int, torch.Generator], torch.Tensor]
P = TypeVar("P", bound=MethodParams)


@dataclass
class StepOutput:
    loss: torch.Tensor
    # Student outputs on the original (unmixed, ungenerated) part of the batch, for train accuracy.
    outputs: torch.Tensor
    # Classification only: the target distributions actually trained on (whole transfer set), for H-hat.
    targets: torch.Tensor | None = None
    # Samples the student trained on this step, when a method's transfer set differs from the batch.
    transfer_size: int | None = None


@dataclass
class MethodContext:
    """What a method may use besides the batch."""

    task: TaskInfo
    num_outputs: int  # classes of the loaded data, or the regression target's dimension
    params: dict[str, Any]  # validated by the method's parameter model
    generator: torch.Generator  # the run's mixing stream: the method's own draws (lambda, permutations...)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    teachers: TeacherEnsemble | None = None
    # A folder that survives a resume (state a method builds once, e.g. XCL-GAN's offline pool).
    workdir: Path | None = None
    seed: int = 0
    autocast: Callable[[], AbstractContextManager[Any]] = nullcontext
    generator_path: Path | None = None  # a finished generator run's model.pt, for methods that sample one
    # The samples stream (generated inputs) and the pool stream's seed; defaults keep a bare context usable.
    samples: torch.Generator = field(default_factory=torch.Generator)
    pool_seed: int = 0

    @property
    def kind(self) -> str:
        return self.task.kind


class Method(Generic[P]):
    """A student-training method. Subclasses set `params_model` to their catalog parameter model and read
    typed parameters from `self.p`; `@register_method(name)` sets `name`."""

    name = "base"
    params_model: type[P]

    def __init__(self, ctx: MethodContext) -> None:
        self.ctx = ctx
        self.p: P = self.params_model.model_validate(ctx.params)

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepOutput:
        raise NotImplementedError

    # --- shared pieces
    def _one_hot(self, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y, self.ctx.num_outputs).float()

    def _regression_loss(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mu, log_var = split_gaussian(outputs, y.shape[1])
        if outputs.shape[1] > y.shape[1]:
            return gaussian_nll(mu, log_var, y.float())
        return F.mse_loss(mu, y.float())


class GeneratorTrainer(Generic[P]):
    """A method whose run trains a generator network (sampled by XCL-GAN) instead of a student. Subclasses set
    `params_model` and `models`, the catalog's generator models they train."""

    name = "base"
    params_model: type[P]
    models: tuple[str, ...] = ()

    def __init__(self, params: dict[str, Any]) -> None:
        self.p: P = self.params_model.model_validate(params)

    def train(
        self,
        spec: RunSpec,
        hp: Hparams,
        workdir: Path,
        hooks: Hooks,
        batches: Batches,
        device: torch.device,
        progress: bool,
    ) -> TrainResult:
        raise NotImplementedError
