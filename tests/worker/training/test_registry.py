"""The catalog and the engine's registries name the same things, and each implementation reads the parameter
or option model its catalog entry declares."""

from __future__ import annotations

import inspect

import pytest

from worker.training.data import INPUT_GENERATORS, LOADERS, REGRESSION_ERRORS
from worker.training.methods import GENERATOR_TRAINERS, METHOD_CLASSES
from worker.training.models import MODEL_BUILDERS
from xclab.catalog import METHODS, MODELS, TASKS

BUILDER_ARGS = {"num_outputs", "width", "input_shape"}


def test_every_task_has_a_loader_and_every_loader_a_task() -> None:
    assert set(TASKS) == set(LOADERS.names())


def test_regression_targets_and_builtin_generators_are_registered() -> None:
    targets = {t.target.name for t in TASKS.values() if t.target is not None}
    assert targets == set(REGRESSION_ERRORS.names())
    generators = {t.builtin_generator for t in TASKS.values() if t.builtin_generator is not None}
    # A task's built-in generator plus its renderer variants ("<name>-<variant>", e.g. the gaze domain gap).
    assert generators <= set(INPUT_GENERATORS.names())
    assert all(any(n == g or n.startswith(f"{g}-") for g in generators) for n in INPUT_GENERATORS.names())
    assert all((t.target is not None) == t.regression for t in TASKS.values())


def test_models_are_registered_or_trained_by_a_generator_trainer() -> None:
    trained = {m for name in GENERATOR_TRAINERS.names() for m in GENERATOR_TRAINERS.get(name).models}  # type: ignore[union-attr]
    assert set(MODELS) == set(MODEL_BUILDERS.names()) | trained
    assert not set(MODEL_BUILDERS.names()) & trained
    assert trained == {m.name for m in MODELS.values() if m.generator}


def test_methods_are_registered_as_student_methods_or_generator_trainers() -> None:
    assert set(METHODS) == set(METHOD_CLASSES.names()) | set(GENERATOR_TRAINERS.names())
    assert set(GENERATOR_TRAINERS.names()) == {m.name for m in METHODS.values() if m.trains_generator}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_method_reads_its_catalog_parameter_model(name: str) -> None:
    impl = METHOD_CLASSES.get(name) or GENERATOR_TRAINERS.get(name)
    assert impl is not None and impl.name == name
    assert impl.params_model is METHODS[name].params_model


@pytest.mark.parametrize("name", sorted(MODEL_BUILDERS.names()))
def test_each_builder_takes_exactly_its_catalog_options(name: str) -> None:
    signature = inspect.signature(MODEL_BUILDERS.get(name))  # type: ignore[arg-type]
    options = {p.name: p.default for p in signature.parameters.values() if p.name not in BUILDER_ARGS}
    assert options == MODELS[name].options
