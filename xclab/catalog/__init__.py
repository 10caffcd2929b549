"""What the engine offers, as typed data: tasks, models (with their options), methods (with their parameters)
and recipes.

The backend validates specs against this and serves it at /api/v1/catalog; the dashboard builds its forms
from that endpoint. The torch implementations in `worker.training` register under the same names, and
tests/worker/training/test_registry.py checks that the catalog and the engine's registries name the same things.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from xclab.catalog.info import (
    MethodInfo,
    MethodParams,
    ModelInfo,
    ModelOptions,
    PrimaryMetric,
    RecipeInfo,
    RegressionTarget,
    TaskInfo,
)
from xclab.catalog.methods import METHOD_CHOICES, METHODS
from xclab.catalog.models import MODELS
from xclab.catalog.recipes import DEFAULT_RECIPE_FOR_TASK, RECIPES
from xclab.catalog.tasks import TASKS
from xclab.hparams import HPARAM_TYPES

__all__ = [
    "DEFAULT_RECIPE_FOR_TASK",
    "HPARAM_TYPES",
    "METHODS",
    "METHOD_CHOICES",
    "MODELS",
    "RECIPES",
    "TASKS",
    "MethodInfo",
    "MethodParams",
    "ModelInfo",
    "ModelOptions",
    "PrimaryMetric",
    "RecipeInfo",
    "RegressionTarget",
    "TaskInfo",
    "catalog_dict",
]


def _model_dict(m: ModelInfo) -> dict[str, Any]:
    return {
        "name": m.name,
        "tasks": list(m.tasks),
        "description": m.description,
        "scalable_width": m.scalable_width,
        "generator": m.generator,
        "options": m.options,
        "options_schema": m.options_model.model_json_schema(),
    }


def _method_dict(m: MethodInfo) -> dict[str, Any]:
    return {
        "name": m.name,
        "needs_teachers": m.needs_teachers,
        "description": m.description,
        "params": m.params,
        "uses_generator": m.uses_generator,
        "trains_generator": m.trains_generator,
        "needs_class_labels": m.needs_class_labels,
        "transfer_set": m.transfer_set,
        "params_schema": m.params_model.model_json_schema(),
    }


def catalog_dict() -> dict[str, Any]:
    """The catalog in the shape of GET /api/v1/catalog."""
    return {
        "tasks": [asdict(t) for t in TASKS.values()],
        "models": [_model_dict(m) for m in MODELS.values()],
        "methods": [_method_dict(m) for m in METHODS.values()],
        "recipes": [asdict(r) for r in RECIPES.values()],
    }
