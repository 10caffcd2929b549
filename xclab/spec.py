"""The run spec: the one contract between API, dashboard, worker and the training engine (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from xclab.catalog import (
    DEFAULT_RECIPE_FOR_TASK,
    HPARAM_TYPES,
    METHOD_CHOICES,
    METHODS,
    MODELS,
    RECIPES,
    TASKS,
)


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="A model from the catalog.")
    width: float = Field(default=1.0, gt=0, le=16, description="Channel width multiplier.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Model options, e.g. PyramidNet depth/alpha."
    )


class MethodSpec(BaseModel):
    """A method name plus its parameters as flat fields, e.g. {"name": "kd", "temperature": 4}."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(description="A method from the catalog.")

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class RunSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="A task from the catalog.")
    model: ModelSpec
    method: MethodSpec = Field(default_factory=lambda: MethodSpec(name="erm"))
    teachers: list[int] = Field(default_factory=list, description="Ids of finished teacher runs.")
    recipe: str | None = Field(default=None, description="Named hyperparameter preset; default per task.")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Recipe fields to override.")
    seed: int = Field(default=0, ge=0)
    epochs: int | None = Field(default=None, ge=1, le=10_000, description="Shortcut for overrides.epochs.")
    limit: int | None = Field(default=None, ge=1, description="Use at most this many training samples.")


@dataclass(frozen=True)
class SpecIssue:
    """One problem with a spec, located like a Pydantic error so clients can show it next to the field."""

    loc: tuple[str | int, ...]
    msg: str
    input: Any

    def as_error(self, prefix: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"type": "value_error", "loc": [*prefix, *self.loc], "msg": self.msg, "input": self.input}


def _allowed(names: Any) -> str:
    return ", ".join(sorted(names))


def check_spec(spec: RunSpec) -> list[SpecIssue]:
    """Check a structurally valid spec against the catalog; returns every problem found."""
    issues: list[SpecIssue] = []
    if spec.task not in TASKS:
        issues.append(
            SpecIssue(("task",), f"unknown task '{spec.task}'; allowed: {_allowed(TASKS)}", spec.task)
        )
    model = MODELS.get(spec.model.name)
    if model is None:
        issues.append(
            SpecIssue(
                ("model", "name"),
                f"unknown model '{spec.model.name}'; allowed: {_allowed(MODELS)}",
                spec.model.name,
            )
        )
    elif spec.task in TASKS and spec.task not in model.tasks:
        fitting = [m.name for m in MODELS.values() if spec.task in m.tasks]
        issues.append(
            SpecIssue(
                ("model", "name"),
                f"model '{model.name}' does not fit task '{spec.task}'; allowed for this task: {_allowed(fitting)}",
                spec.model.name,
            )
        )
    method = METHODS.get(spec.method.name)
    if method is None:
        issues.append(
            SpecIssue(
                ("method", "name"),
                f"unknown method '{spec.method.name}'; allowed: {_allowed(METHODS)}",
                spec.method.name,
            )
        )
    elif method.needs_teachers and not spec.teachers:
        issues.append(
            SpecIssue(
                ("teachers",), f"method '{method.name}' needs at least one teacher run id", spec.teachers
            )
        )
    elif not method.needs_teachers and spec.teachers:
        issues.append(
            SpecIssue(
                ("teachers",),
                f"method '{method.name}' takes no teachers; remove them or pick a KD method",
                spec.teachers,
            )
        )
    if method is not None:
        issues += _check_method_params(spec, method.params)
        if spec.method.name in {"ls", "gan"} and spec.task in TASKS and TASKS[spec.task].kind == "regression":
            issues.append(
                SpecIssue(
                    ("method", "name"),
                    f"method '{spec.method.name}' needs class labels; task '{spec.task}' is a regression task",
                    spec.method.name,
                )
            )
    is_gan, is_cgan = spec.method.name == "gan", spec.model.name == "cgan"
    if is_gan != is_cgan and method is not None and model is not None:
        issues.append(
            SpecIssue(
                ("model", "name"),
                "method 'gan' trains model 'cgan', and 'cgan' is trained only by 'gan'",
                spec.model.name,
            )
        )
    if len(set(spec.teachers)) != len(spec.teachers):
        issues.append(SpecIssue(("teachers",), "teacher run ids must be distinct", spec.teachers))
    if spec.recipe is not None:
        recipe = RECIPES.get(spec.recipe)
        if recipe is None:
            issues.append(
                SpecIssue(
                    ("recipe",), f"unknown recipe '{spec.recipe}'; allowed: {_allowed(RECIPES)}", spec.recipe
                )
            )
        elif spec.task in TASKS and recipe.task != spec.task:
            fitting = [r.name for r in RECIPES.values() if r.task == spec.task]
            issues.append(
                SpecIssue(
                    ("recipe",),
                    f"recipe '{recipe.name}' is for task '{recipe.task}'; allowed for '{spec.task}': {_allowed(fitting)}",
                    spec.recipe,
                )
            )
    for key, value in spec.overrides.items():
        expected = HPARAM_TYPES.get(key)
        if expected is None:
            issues.append(
                SpecIssue(
                    ("overrides", key),
                    f"unknown hyperparameter '{key}'; allowed: {_allowed(HPARAM_TYPES)}",
                    value,
                )
            )
        elif not _fits_type(value, expected):
            issues.append(SpecIssue(("overrides", key), f"'{key}' must be a {expected.__name__}", value))
    return issues


def _check_method_params(spec: RunSpec, defaults: dict[str, Any]) -> list[SpecIssue]:
    issues = []
    name = spec.method.name
    for key, value in spec.method.params.items():
        if key not in defaults:
            takes = ", ".join(sorted(defaults)) or "no parameters"
            issues.append(
                SpecIssue(
                    ("method", key), f"method '{name}' has no parameter '{key}'; it takes: {takes}", value
                )
            )
            continue
        default = defaults[key]
        if key == "generator_run":
            if value is not None and not (isinstance(value, int) and not isinstance(value, bool)):
                issues.append(
                    SpecIssue(
                        ("method", key), "generator_run must be the id of a finished generator run", value
                    )
                )
        elif not _fits_type(value, type(default)):
            issues.append(SpecIssue(("method", key), f"'{key}' must be a {type(default).__name__}", value))
        elif key in METHOD_CHOICES and value not in METHOD_CHOICES[key]:
            issues.append(
                SpecIssue(("method", key), f"'{key}' must be one of: {', '.join(METHOD_CHOICES[key])}", value)
            )
        elif key == "temperature" and value <= 0:
            issues.append(SpecIssue(("method", key), "temperature must be > 0", value))
        elif key in {"epsilon", "gt_weight"} and not 0 <= value < 1:
            issues.append(SpecIssue(("method", key), f"'{key}' must be in [0, 1)", value))
        elif key == "gan_fraction" and not 0 < value < 1:
            issues.append(SpecIssue(("method", key), "gan_fraction must be in (0, 1)", value))
        elif key in {"alpha", "mix_ratio"} and value < 0:
            issues.append(SpecIssue(("method", key), f"'{key}' must be >= 0", value))
    if name == "xcl-gan" and spec.task in TASKS:
        generator_run = spec.method.params.get("generator_run")
        if TASKS[spec.task].kind == "classification" and generator_run is None:
            issues.append(
                SpecIssue(
                    ("method", "generator_run"),
                    "xcl-gan on a classification task needs generator_run: the "
                    "id of a finished run with method 'gan' on the same task",
                    None,
                )
            )
        if TASKS[spec.task].kind == "regression" and generator_run is not None:
            issues.append(
                SpecIssue(
                    ("method", "generator_run"),
                    "gaze tasks use the built-in eye renderer; remove generator_run",
                    generator_run,
                )
            )
    return issues


def _fits_type(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is list:
        return isinstance(value, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        )
    return isinstance(value, expected)


def default_recipe(task: str, model: str) -> str:
    """The recipe written for this task and model, else the task's default."""
    for recipe in RECIPES.values():
        if recipe.task == task and recipe.model == model:
            return recipe.name
    return DEFAULT_RECIPE_FOR_TASK[task]


def resolve_hparams(spec: RunSpec) -> dict[str, Any]:
    """The recipe's hyperparameters with the spec's overrides applied, plus the method's full parameter set:
    what the run really trains with, stored with the run."""
    recipe_name = spec.recipe or default_recipe(spec.task, spec.model.name)
    hparams = dict(RECIPES[recipe_name].hparams)
    if spec.method.name.startswith("xcl") and "weight_decay_xcl" in hparams:
        hparams["weight_decay"] = hparams["weight_decay_xcl"]  # App. A.5: 10x smaller wd for XCL on ImageNet
    hparams.update(spec.overrides)
    if spec.epochs is not None:
        hparams["epochs"] = spec.epochs
    hparams["recipe"] = recipe_name
    hparams["method_params"] = {**METHODS[spec.method.name].params, **spec.method.params}
    return hparams
