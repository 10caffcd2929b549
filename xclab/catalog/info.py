"""The catalog's record types. Code asks these records (a task's kind and target, a method's capability flags,
a model's options) instead of comparing names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from xclab.hparams import STRICT


@dataclass(frozen=True)
class PrimaryMetric:
    key: str
    goal: Literal["max", "min"]


TOP1 = PrimaryMetric("test_top1", "max")


@dataclass(frozen=True)
class RegressionTarget:
    """What a regression task predicts and how its error is measured. The engine registers one error function
    per target name; runs report it as `<split>_<error_metric>`."""

    name: str
    dims: int
    error_metric: str
    description: str


@dataclass(frozen=True)
class TaskInfo:
    name: str
    kind: Literal["classification", "regression"]
    primary_metric: PrimaryMetric
    num_outputs: int  # classes, or the regression target's dimension
    description: str
    target: RegressionTarget | None = None  # regression tasks only
    # An input generator the engine ships for this task (XCL-GAN samples it instead of a generator run).
    builtin_generator: str | None = None

    @property
    def regression(self) -> bool:
        return self.kind == "regression"


def classification_task(name: str, classes: int, description: str) -> TaskInfo:
    return TaskInfo(name, "classification", TOP1, classes, description)


def regression_task(
    name: str, target: RegressionTarget, description: str, builtin_generator: str | None = None
) -> TaskInfo:
    metric = PrimaryMetric(f"test_{target.error_metric}", "min")
    return TaskInfo(name, "regression", metric, target.dims, description, target, builtin_generator)


class ModelOptions(BaseModel):
    """A model's `options` in the spec; subclasses declare each option with its type, bounds and default."""

    model_config = STRICT

    def adds_variance_output(self) -> bool:
        """On a regression task: whether the head predicts a log variance after the mean (Gaussian output)."""
        return True


class MethodParams(BaseModel):
    """A method's parameters in the spec; subclasses declare each with its type, bounds and default."""

    model_config = STRICT


def defaults(model: type[BaseModel]) -> dict[str, Any]:
    return model().model_dump()


@dataclass(frozen=True)
class ModelInfo:
    name: str
    tasks: tuple[str, ...]
    description: str
    scalable_width: bool = True
    options_model: type[ModelOptions] = ModelOptions
    generator: bool = False  # a generator network: trained only by methods with `trains_generator`

    @property
    def options(self) -> dict[str, Any]:
        return defaults(self.options_model)


@dataclass(frozen=True)
class MethodInfo:
    name: str
    needs_teachers: bool
    description: str
    params_model: type[MethodParams] = MethodParams
    # Capabilities: code asks these instead of comparing method names.
    uses_generator: bool = False  # samples a generator (a `gan` run or the eye renderer) for its transfer set
    trains_generator: bool = False  # the run produces a generator, not a classifier or regressor
    needs_class_labels: bool = False  # meaningless on regression tasks
    # Where a distillation method's targets come from: the original batch, or a set extended beyond it.
    transfer_set: Literal["original", "extended"] | None = None

    @property
    def params(self) -> dict[str, Any]:
        """The parameters' defaults."""
        return defaults(self.params_model)


@dataclass(frozen=True)
class RecipeInfo:
    name: str
    task: str
    model: str
    description: str
    hparams: dict[str, Any] = field(default_factory=dict)
