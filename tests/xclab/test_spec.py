"""check_spec validates method parameters, model options and overrides by their typed models: every problem is
located at its field and its message names the field and the fix."""

from __future__ import annotations

import math
from typing import Any

import pytest

from xclab.spec import RunSpec, SpecIssue, check_spec, resolve_hparams


def _spec(**fields: Any) -> RunSpec:
    base: dict[str, Any] = {"task": "digits", "model": {"name": "small-cnn"}}
    return RunSpec.model_validate({**base, **fields})


def _issues(**fields: Any) -> dict[tuple[str | int, ...], str]:
    return {issue.loc: issue.msg for issue in check_spec(_spec(**fields))}


def _kd(**params: Any) -> dict[str, Any]:
    return {"method": {"name": "kd", **params}, "teachers": [1]}


def test_a_valid_spec_has_no_issues() -> None:
    assert check_spec(_spec(**_kd(temperature=4, t2_factor=True, gt_weight=0.5), overrides={"lr": 0.1})) == []


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"temperature": math.nan}, "temperature", "temperature must be a finite number"),
        ({"temperature": math.inf}, "temperature", "temperature must be a finite number"),
        ({"temperature": 0}, "temperature", "temperature must be > 0"),
        ({"temperature": "4"}, "temperature", "'temperature' must be a float"),
        ({"t2_factor": 1}, "t2_factor", "'t2_factor' must be true or false"),
        ({"gt_weight": 1.0}, "gt_weight", "gt_weight must be in [0, 1)"),
        (
            {"alpha": 1.0},
            "alpha",
            "method 'kd' has no parameter 'alpha'; it takes: gt_weight, t2_factor, temperature",
        ),
    ],
)
def test_method_parameters_are_checked_by_the_methods_own_model(
    params: dict[str, Any], field: str, message: str
) -> None:
    assert _issues(**_kd(**params)) == {("method", field): message}


def test_same_named_parameters_follow_each_methods_rules() -> None:
    xcl_gan = {"method": {"name": "xcl-gan", "generator_run": 3, "gan_fraction": 1.0, "mode": "sometimes"}}
    assert _issues(**xcl_gan, teachers=[1]) == {
        ("method", "gan_fraction"): "gan_fraction must be in (0, 1)",
        ("method", "mode"): "'mode' must be one of: online, offline",
    }
    assert _issues(method={"name": "xcl-mix", "mix": "both", "offline_size": 1.5}, teachers=[1]) == {
        ("method", "offline_size"): "method 'xcl-mix' has no parameter 'offline_size'; it takes: "
        "alpha, batch_composition, mix, mix_ratio, t2_factor, temperature"
    }
    assert _issues(method={"name": "xcl-gan", "generator_run": 3, "offline_size": 1.5}, teachers=[1]) == {
        ("method", "offline_size"): "'offline_size' must be an integer"
    }
    assert _issues(method={"name": "erm", "epsilon": 0.1}) == {
        ("method", "epsilon"): "method 'erm' has no parameter 'epsilon'; it takes: loss"
    }
    assert _issues(method={"name": "mixup", "loss": "mse"}) == {
        ("method", "loss"): "method 'mixup' has no parameter 'loss'; it takes: alpha"
    }


@pytest.mark.parametrize(
    ("model", "field", "message"),
    [
        ({"name": "small-cnn", "options": {"binary": "true"}}, "binary", "'binary' must be true or false"),
        (
            {"name": "small-cnn", "options": {"depth": 3}},
            "depth",
            "model 'small-cnn' has no option 'depth'; it takes: binary",
        ),
    ],
)
def test_model_options_are_checked_by_the_models_options_model(
    model: dict[str, Any], field: str, message: str
) -> None:
    assert _issues(model=model) == {("model", "options", field): message}


def test_options_of_other_models() -> None:
    cifar = {"task": "cifar100"}
    assert _issues(**cifar, model={"name": "pyramidnet", "options": {"depth": 2, "alpha": math.inf}}) == {
        ("model", "options", "depth"): "depth must be in [8, 1000]",
        ("model", "options", "alpha"): "alpha must be a finite number",
    }
    assert _issues(**cifar, model={"name": "resnet18-cifar", "options": {"binary": True}}) == {
        ("model", "options", "binary"): "model 'resnet18-cifar' has no option 'binary'; it takes: no options"
    }
    gaze = {
        "task": "synthetic-gaze",
        "model": {"name": "lenet", "options": {"uncertainty": False, "conv_relu": True}},
    }
    assert _issues(**gaze) == {}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"lr": "0.1"}, "lr", "'lr' must be a float"),
        ({"lr": math.nan}, "lr", "lr must be a finite number"),
        ({"lr": 0}, "lr", "lr must be > 0"),
        ({"weight_decay": -math.inf}, "weight_decay", "weight_decay must be a finite number"),
        ({"epochs": 2.5}, "epochs", "'epochs' must be an integer"),
        ({"epochs": True}, "epochs", "'epochs' must be an integer"),
        ({"epochs": 10_001}, "epochs", "epochs must be in [1, 10000]"),
        ({"batch_size": 0}, "batch_size", "batch_size must be in [1, 65536]"),
        ({"momentum": 1.0}, "momentum", "momentum must be in [0, 1)"),
        ({"val_fraction": 0.95}, "val_fraction", "val_fraction must be in [0, 0.9]"),
        ({"workers": 65}, "workers", "workers must be in [0, 64]"),
        ({"checkpoint_every": 0}, "checkpoint_every", "checkpoint_every must be >= 1"),
        ({"optimizer": "rmsprop"}, "optimizer", "'optimizer' must be one of: sgd, adam, adamw"),
        ({"lr_milestones": [3, "x"]}, "lr_milestones", "'lr_milestones' must be a list of numbers"),
        ({"data_root": 3}, "data_root", "'data_root' must be a string or null"),
    ],
)
def test_overrides_are_checked_by_hparams(overrides: dict[str, Any], field: str, message: str) -> None:
    assert _issues(overrides=overrides) == {("overrides", field): message}


def test_unknown_override_names_the_allowed_keys() -> None:
    [issue] = check_spec(_spec(overrides={"learning_rate": 0.1}))
    assert issue.loc == ("overrides", "learning_rate")
    assert issue.msg.startswith("unknown hyperparameter 'learning_rate'; allowed: batch_size, cache_dir,")
    assert "recipe" not in issue.msg and "method_params" not in issue.msg


def test_overrides_are_checked_together_with_the_recipe() -> None:
    # digits-quick decays by cosine; a step schedule needs milestones the recipe does not have.
    assert _issues(overrides={"schedule": "step"}) == {
        ("overrides",): "schedule 'step' needs lr_milestones (epochs where the lr decays)"
    }
    assert _issues(overrides={"schedule": "step", "lr_milestones": [5]}) == {}


def test_overrides_are_still_checked_when_the_recipe_is_unknown() -> None:
    issues = _issues(recipe="nope", overrides={"lr": -1.0, "epochs": 3})
    assert issues.keys() == {("recipe",), ("overrides", "lr")}


def test_capability_rules() -> None:
    gaze = {"task": "synthetic-gaze", "model": {"name": "lenet"}}
    assert _issues(**gaze, method={"name": "ls"}) == {
        ("method", "name"): "method 'ls' needs class labels; task 'synthetic-gaze' is a regression task"
    }
    assert _issues(**gaze, method={"name": "xcl-gan", "generator_run": 4}, teachers=[1]) == {
        ("method", "generator_run"): "task 'synthetic-gaze' uses its built-in generator (eye-renderer); "
        "remove generator_run"
    }
    assert ("method", "generator_run") in _issues(method={"name": "xcl-gan"}, teachers=[1])
    assert _issues(method={"name": "gan"}) == {
        ("model", "name"): "method 'gan' trains a generator model (cgan), not 'small-cnn'"
    }
    assert _issues(model={"name": "cgan"}) == {
        ("model", "name"): "model 'cgan' is a generator, trained only by method gan"
    }


def test_a_generator_trains_on_one_gpu_at_most() -> None:
    gan = {"method": {"name": "gan"}, "model": {"name": "cgan"}}
    assert _issues(**gan, resources={"gpus": 2}) == {
        ("resources", "gpus"): "method 'gan' trains a generator in one process; set resources.gpus to 0 or 1"
    }
    assert _issues(**gan, resources={"gpus": 1}) == {}
    assert _issues(resources={"gpus": 16}) == {}  # students go distributed


def test_issue_serialises_like_a_pydantic_error() -> None:
    issue = SpecIssue(("method", "temperature"), "temperature must be > 0", 0)
    assert issue.as_error(("body", "spec")) == {
        "type": "value_error",
        "loc": ["body", "spec", "method", "temperature"],
        "msg": "temperature must be > 0",
        "input": 0,
    }


def test_resolve_hparams_keeps_its_keys_and_values() -> None:
    spec = _spec(method={"name": "ls", "epsilon": 0.2}, epochs=3, overrides={"train_subset": 500})
    assert resolve_hparams(spec) == {
        "epochs": 3,
        "batch_size": 64,
        "lr": 0.05,
        "weight_decay": 5e-4,
        "optimizer": "sgd",
        "schedule": "cosine",
        "momentum": 0.9,
        "checkpoint_every": 1,
        "train_subset": 500,
        "recipe": "digits-quick",
        "method_params": {"epsilon": 0.2},
    }


def test_methods_with_an_extended_transfer_set_get_the_smaller_imagenet_weight_decay() -> None:
    imagenet = {"task": "imagenet", "model": {"name": "resnet50"}, "teachers": [1]}
    xcl = resolve_hparams(RunSpec.model_validate({**imagenet, "method": {"name": "xcl-mix"}}))
    kd = resolve_hparams(RunSpec.model_validate({**imagenet, "method": {"name": "kd"}}))
    assert (xcl["weight_decay"], kd["weight_decay"]) == (1e-5, 1e-4)
