"""Model registry: builders by catalog name, called as builder(*, num_outputs, width, input_shape, **options)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

Builder = Callable[..., nn.Module]
MODEL_BUILDERS: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    def wrap(fn: Builder) -> Builder:
        if name in MODEL_BUILDERS:
            raise ValueError(f"model '{name}' registered twice")
        MODEL_BUILDERS[name] = fn
        return fn

    return wrap


def _load_all() -> None:
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def build_model(
    name: str, *, num_outputs: int, width: float, input_shape: tuple[int, ...], **options: object
) -> nn.Module:
    _load_all()
    try:
        builder = MODEL_BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown model '{name}'; available: {', '.join(sorted(MODEL_BUILDERS))}")
    return builder(num_outputs=num_outputs, width=width, input_shape=input_shape, **options)


def registered_models() -> list[str]:
    _load_all()
    return sorted(MODEL_BUILDERS)
