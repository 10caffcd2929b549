"""What the engine offers, as plain data: tasks, models, methods and recipes.

The backend validates specs against this and serves it at /api/v1/catalog; the dashboard builds its forms
from that endpoint. The torch implementations in `worker.training` register under the same names, and a
test checks that every name listed here has an implementation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class PrimaryMetric:
    key: str
    goal: Literal["max", "min"]


@dataclass(frozen=True)
class TaskInfo:
    name: str
    kind: Literal["classification", "regression"]
    primary_metric: PrimaryMetric
    num_outputs: int
    description: str


@dataclass(frozen=True)
class ModelInfo:
    name: str
    tasks: tuple[str, ...]
    description: str
    scalable_width: bool = True


@dataclass(frozen=True)
class MethodInfo:
    name: str
    needs_teachers: bool
    description: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecipeInfo:
    name: str
    task: str
    model: str
    description: str
    hparams: dict[str, Any]


TASKS: dict[str, TaskInfo] = {
    t.name: t
    for t in [
        TaskInfo(
            name="digits",
            kind="classification",
            primary_metric=PrimaryMetric("test_top1", "max"),
            num_outputs=10,
            description="scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes).",
        ),
    ]
}

MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        ModelInfo(
            name="small-cnn",
            tasks=("digits",),
            description="Three-layer CNN for 8x8 digits; width scales every layer's channels.",
        ),
    ]
}

METHODS: dict[str, MethodInfo] = {
    m.name: m
    for m in [
        MethodInfo(
            name="erm", needs_teachers=False, description="Empirical risk minimisation (cross-entropy)."
        ),
    ]
}

# Hyperparameters a recipe sets and a spec may override, with their types.
HPARAM_TYPES: dict[str, type] = {
    "epochs": int,
    "batch_size": int,
    "lr": float,
    "momentum": float,
    "weight_decay": float,
    "optimizer": str,
    "schedule": str,
    "train_subset": int,
    "checkpoint_every": int,
}

RECIPES: dict[str, RecipeInfo] = {
    r.name: r
    for r in [
        RecipeInfo(
            name="digits-quick",
            task="digits",
            model="small-cnn",
            description="Finishes in seconds on two CPU cores; SGD with cosine decay.",
            hparams={
                "epochs": 10,
                "batch_size": 64,
                "lr": 0.05,
                "momentum": 0.9,
                "weight_decay": 5e-4,
                "optimizer": "sgd",
                "schedule": "cosine",
                "train_subset": 0,
                "checkpoint_every": 1,
            },
        ),
    ]
}

# The recipe used when a spec names none.
DEFAULT_RECIPE_FOR_TASK: dict[str, str] = {"digits": "digits-quick"}


def catalog_dict() -> dict[str, Any]:
    """The catalog in the shape of GET /api/v1/catalog."""
    return {
        "tasks": [asdict(t) for t in TASKS.values()],
        "models": [{**asdict(m), "tasks": list(m.tasks)} for m in MODELS.values()],
        "methods": [asdict(m) for m in METHODS.values()],
        "recipes": [asdict(r) for r in RECIPES.values()],
    }
