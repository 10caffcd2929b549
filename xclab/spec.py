"""The run spec: the one contract between API, dashboard, worker and the training engine (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from xclab.catalog import DEFAULT_RECIPE_FOR_TASK, METHODS, MODELS, RECIPES, TASKS, MethodInfo, ModelInfo
from xclab.field_errors import FieldProblem, field_problems
from xclab.hparams import OVERRIDABLE, Hparams


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

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


MAX_GPUS = 16  # one node's worth


class Resources(BaseModel):
    """What a run needs from the worker that executes it; runs are routed and placed by it."""

    model_config = ConfigDict(extra="forbid")

    # More than one GPU: DistributedDataParallel on one worker whose pool process sees them all (one node).
    gpus: int = Field(
        default=0,
        ge=0,
        le=MAX_GPUS,
        description=f"GPUs the run needs (0: CPU only; 2..{MAX_GPUS}: DDP on one node, batch_size is global).",
    )
    gpu_kind: str | None = Field(
        default=None, min_length=1, max_length=100, description="Part of the GPU name, e.g. 'H100'."
    )
    min_gpu_memory_gb: float | None = Field(
        default=None, gt=0, le=4096, description="Each GPU has at least this much memory."
    )

    @property
    def min_gpu_memory_mb(self) -> int | None:
        return None if self.min_gpu_memory_gb is None else round(self.min_gpu_memory_gb * 1024)


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
    resources: Resources = Field(default_factory=Resources, description="GPUs the run needs; routes it.")


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
    task = TASKS.get(spec.task)
    model = MODELS.get(spec.model.name)
    method = METHODS.get(spec.method.name)
    issues: list[SpecIssue] = []
    if task is None:
        issues.append(
            SpecIssue(("task",), f"unknown task '{spec.task}'; allowed: {_allowed(TASKS)}", spec.task)
        )
    if model is None:
        issues.append(
            SpecIssue(
                ("model", "name"),
                f"unknown model '{spec.model.name}'; allowed: {_allowed(MODELS)}",
                spec.model.name,
            )
        )
    else:
        issues += _check_model(spec, model)
    if method is None:
        issues.append(
            SpecIssue(
                ("method", "name"),
                f"unknown method '{spec.method.name}'; allowed: {_allowed(METHODS)}",
                spec.method.name,
            )
        )
    else:
        issues += _check_method(spec, method)
    if method is not None and model is not None and method.trains_generator != model.generator:
        issues.append(_generator_mismatch(spec, method, model))
    if len(set(spec.teachers)) != len(spec.teachers):
        issues.append(SpecIssue(("teachers",), "teacher run ids must be distinct", spec.teachers))
    if method is not None and method.trains_generator and spec.resources.gpus > 1:
        msg = f"method '{method.name}' trains a generator in one process; set resources.gpus to 0 or 1"
        issues.append(SpecIssue(("resources", "gpus"), msg, spec.resources.gpus))
    return issues + _check_recipe(spec) + _check_overrides(spec)


def _check_model(spec: RunSpec, model: ModelInfo) -> list[SpecIssue]:
    issues = []
    if spec.task in TASKS and spec.task not in model.tasks:
        fitting = [m.name for m in MODELS.values() if spec.task in m.tasks]
        issues.append(
            SpecIssue(
                ("model", "name"),
                f"model '{model.name}' does not fit task '{spec.task}'; allowed for this task: {_allowed(fitting)}",
                spec.model.name,
            )
        )
    takes = _allowed(model.options_model.model_fields) or "no options"
    for problem in _problems(model.options_model, spec.model.options):
        msg = f"model '{model.name}' has no option '{problem.field}'; it takes: {takes}"
        loc = ("model", "options", problem.field) if problem.field else ("model", "options")
        issues.append(SpecIssue(loc, msg if problem.unknown else problem.msg, problem.input))
    return issues


def _check_method(spec: RunSpec, method: MethodInfo) -> list[SpecIssue]:
    issues = []
    if method.needs_teachers and not spec.teachers:
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
    takes = _allowed(method.params_model.model_fields) or "no parameters"
    for problem in _problems(method.params_model, spec.method.params):
        msg = f"method '{method.name}' has no parameter '{problem.field}'; it takes: {takes}"
        loc = ("method", problem.field) if problem.field else ("method",)
        issues.append(SpecIssue(loc, msg if problem.unknown else problem.msg, problem.input))
    task = TASKS.get(spec.task)
    if task is None:
        return issues
    loss = spec.method.params.get("loss", "auto") if "loss" in method.params_model.model_fields else "auto"
    if loss != "auto" and not task.regression:
        issues.append(
            SpecIssue(
                ("method", "loss"),
                f"loss '{loss}' applies to regression tasks; task '{task.name}' trains with cross-entropy: "
                "remove loss",
                loss,
            )
        )
    model = MODELS.get(spec.model.name)
    valid_options = model is not None and not _problems(model.options_model, spec.model.options)
    if loss == "nll" and task.regression and model is not None and valid_options:
        if not model.options_model.model_validate(spec.model.options).adds_variance_output():
            issues.append(
                SpecIssue(
                    ("method", "loss"),
                    f"loss 'nll' needs a variance output; model '{model.name}' has none with these options "
                    "(set its option uncertainty true, or use loss mse)",
                    loss,
                )
            )
    if method.needs_class_labels and task.regression:
        issues.append(
            SpecIssue(
                ("method", "name"),
                f"method '{method.name}' needs class labels; task '{task.name}' is a regression task",
                method.name,
            )
        )
    if method.uses_generator:
        generator_run = spec.method.params.get("generator_run")
        if task.builtin_generator is None and generator_run is None:
            trainers = _allowed(m.name for m in METHODS.values() if m.trains_generator)
            issues.append(
                SpecIssue(
                    ("method", "generator_run"),
                    f"{method.name} on task '{task.name}' needs generator_run: the id of a finished run with "
                    f"method {trainers} on the same task",
                    None,
                )
            )
        if task.builtin_generator is None and spec.method.params.get("renderer") == "oracle":
            issues.append(
                SpecIssue(
                    ("method", "renderer"),
                    f"renderer 'oracle' applies to tasks with a built-in generator (gaze); task '{task.name}' "
                    "samples its generator_run: remove renderer",
                    "oracle",
                )
            )
        if task.builtin_generator is not None and generator_run is not None:
            issues.append(
                SpecIssue(
                    ("method", "generator_run"),
                    f"task '{task.name}' uses its built-in generator ({task.builtin_generator}); "
                    "remove generator_run",
                    generator_run,
                )
            )
    return issues


def _generator_mismatch(spec: RunSpec, method: MethodInfo, model: ModelInfo) -> SpecIssue:
    generators = _allowed(m.name for m in MODELS.values() if m.generator)
    trainers = _allowed(m.name for m in METHODS.values() if m.trains_generator)
    if method.trains_generator:
        msg = f"method '{method.name}' trains a generator model ({generators}), not '{model.name}'"
    else:
        msg = f"model '{model.name}' is a generator, trained only by method {trainers}"
    return SpecIssue(("model", "name"), msg, spec.model.name)


def _check_recipe(spec: RunSpec) -> list[SpecIssue]:
    if spec.recipe is None:
        return []
    recipe = RECIPES.get(spec.recipe)
    if recipe is None:
        return [
            SpecIssue(
                ("recipe",), f"unknown recipe '{spec.recipe}'; allowed: {_allowed(RECIPES)}", spec.recipe
            )
        ]
    if spec.task in TASKS and recipe.task != spec.task:
        fitting = [r.name for r in RECIPES.values() if r.task == spec.task]
        return [
            SpecIssue(
                ("recipe",),
                f"recipe '{recipe.name}' is for task '{recipe.task}'; allowed for '{spec.task}': {_allowed(fitting)}",
                spec.recipe,
            )
        ]
    return []


def _check_overrides(spec: RunSpec) -> list[SpecIssue]:
    """Overrides are checked as part of the hyperparameters they produce (recipe + overrides), so that a rule
    across fields, such as a step schedule needing milestones, is checked too."""
    unknown = [key for key in spec.overrides if key not in OVERRIDABLE]
    issues = [
        SpecIssue(
            ("overrides", key),
            f"unknown hyperparameter '{key}'; allowed: {_allowed(OVERRIDABLE)}",
            spec.overrides[key],
        )
        for key in unknown
    ]
    try:
        resolved = resolve_hparams(spec)
    except KeyError:  # unknown task, recipe or method (reported above): check the overrides alone
        resolved = dict(spec.overrides)
    # The overrides' own values, even one the `epochs` shortcut hides: whatever the spec stores must be valid.
    resolved.update(spec.overrides)
    for problem in _problems(Hparams, {k: v for k, v in resolved.items() if k not in unknown}):
        if problem.field is None:
            issues.append(SpecIssue(("overrides",), problem.msg, spec.overrides))
        elif problem.field in spec.overrides:
            issues.append(SpecIssue(("overrides", problem.field), problem.msg, problem.input))
    return issues


def _problems(model: type[BaseModel], values: dict[str, Any]) -> list[FieldProblem]:
    try:
        model.model_validate(values)
    except ValidationError as exc:
        return field_problems(model, exc)
    return []


def default_recipe(task: str, model: str) -> str:
    """The recipe written for this task and model, else the task's default."""
    for recipe in RECIPES.values():
        if recipe.task == task and recipe.model == model:
            return recipe.name
    return DEFAULT_RECIPE_FOR_TASK[task]


def resolve_hparams(spec: RunSpec) -> dict[str, Any]:
    """The recipe's hyperparameters with the spec's overrides applied, plus the method's full parameter set:
    what the run really trains with, stored with the run (`Hparams.model_validate` reads it back)."""
    recipe_name = spec.recipe or default_recipe(spec.task, spec.model.name)
    hparams = dict(RECIPES[recipe_name].hparams)
    method = METHODS[spec.method.name]
    # App. A.5: 10x smaller weight decay for the XCL methods (those that extend the transfer set) on ImageNet.
    if method.transfer_set == "extended" and "weight_decay_xcl" in hparams:
        hparams["weight_decay"] = hparams["weight_decay_xcl"]
    hparams.update(spec.overrides)
    if spec.epochs is not None:
        hparams["epochs"] = spec.epochs
    hparams["recipe"] = recipe_name
    hparams["method_params"] = {**method.params, **spec.method.params}
    return hparams
