"""Model registry: builders by catalog name, called as builder(*, num_outputs, width, input_shape, **options)
where the options are those of the model's catalog options model (a test pins the two)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from worker.training.registry import Registry

Builder = Callable[..., nn.Module]
MODEL_BUILDERS: Registry[Builder] = Registry("model", __name__)
register_model = MODEL_BUILDERS.register


def build_model(
    name: str, *, num_outputs: int, width: float, input_shape: tuple[int, ...], **options: object
) -> nn.Module:
    builder = MODEL_BUILDERS.get(name)
    if builder is None:
        raise ValueError(f"unknown model '{name}'; available: {', '.join(MODEL_BUILDERS.names())}")
    return builder(num_outputs=num_outputs, width=width, input_shape=input_shape, **options)


def registered_models() -> list[str]:
    return MODEL_BUILDERS.names()
