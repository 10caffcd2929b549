"""Training methods by catalog name: one file per method family in this package, each class registered with
`@register_method(name)` (a run that trains a student) or `@register_generator_trainer(name)` (a run that
trains a generator for XCL-GAN). Adding a method = one file here + one catalog entry with its parameter model.

A student method turns one labelled batch into the student's loss, and reports the targets it trained on so
the loop can measure their normalised entropy (H-hat).

Conventions (stated once, used everywhere):
- KD/XCL targets are the ensemble's averaged member probabilities softmax(z_k / T); the student's logits are
  divided by the same T. The KL is multiplied by T^2 unless `t2_factor` is false (Hinton et al.: without
  it the soft targets' gradients shrink as 1/T^2 and a high-T run barely learns; at T = 1 it changes nothing).
- `gt_weight` (KD only) is the convex weight of a hard-label cross-entropy term:
  loss = (1 - gt_weight) * KL + gt_weight * CE(y). Default 0: pure distillation.
- Regression outputs are an isotropic Gaussian (mean of the target's dimension, then a log variance). ERM
  uses the Gaussian NLL (squared error when the head has no variance); KD and XCL use the closed-form KL
  between the ensemble's moment-matched Gaussian and the student's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from worker.training.methods.base import GeneratorTrainer, Method, MethodContext, Sampler, StepOutput
from worker.training.registry import Registry

__all__ = [
    "GENERATOR_TRAINERS",
    "GeneratorTrainer",
    "METHOD_CLASSES",
    "Method",
    "MethodContext",
    "Sampler",
    "StepOutput",
    "build_method",
    "generator_trainer",
    "register_generator_trainer",
    "register_method",
]

C = TypeVar("C", bound=type)
METHOD_CLASSES: Registry[type[Method[Any]]] = Registry("method", __name__)
GENERATOR_TRAINERS: Registry[type[GeneratorTrainer[Any]]] = Registry("generator trainer", __name__)


def _named(registry: Registry[Any], name: str) -> Callable[[C], C]:
    def wrap(cls: C) -> C:
        cls.name = name  # type: ignore[attr-defined]
        registry.register(name)(cls)
        return cls

    return wrap


def register_method(name: str) -> Callable[[C], C]:
    return _named(METHOD_CLASSES, name)


def register_generator_trainer(name: str) -> Callable[[C], C]:
    return _named(GENERATOR_TRAINERS, name)


def build_method(name: str, ctx: MethodContext) -> Method[Any]:
    cls = METHOD_CLASSES.get(name)
    if cls is None:
        raise ValueError(f"method '{name}' is not implemented by this engine")
    return cls(ctx)


def generator_trainer(name: str) -> type[GeneratorTrainer[Any]]:
    cls = GENERATOR_TRAINERS.get(name)
    if cls is None:
        raise ValueError(f"method '{name}' has no generator trainer in this engine")
    return cls
