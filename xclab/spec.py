"""The run spec: the one contract between API, dashboard, worker and the training engine (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from xclab.catalog import DEFAULT_RECIPE_FOR_TASK, HPARAM_TYPES, METHODS, MODELS, RECIPES, TASKS


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="A model from the catalog.")
    width: float = Field(default=1.0, gt=0, le=16, description="Channel width multiplier.")
    options: dict[str, Any] = Field(default_factory=dict, description="Model options, e.g. PyramidNet depth/alpha.")


class MethodSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="A method from the catalog.")


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


def _fits_type(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def resolve_hparams(spec: RunSpec) -> dict[str, Any]:
    """The recipe's hyperparameters with the spec's overrides applied: what the run really trains with."""
    recipe_name = spec.recipe or DEFAULT_RECIPE_FOR_TASK[spec.task]
    hparams = dict(RECIPES[recipe_name].hparams)
    hparams.update(spec.overrides)
    if spec.epochs is not None:
        hparams["epochs"] = spec.epochs
    hparams["recipe"] = recipe_name
    return hparams
