"""Hparams: every recipe resolves into it, its bounds hold, and the worker's folders fill in what a spec leaves."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from xclab.catalog import HPARAM_TYPES, METHODS, MODELS, RECIPES
from xclab.hparams import Hparams
from xclab.spec import RunSpec, resolve_hparams


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_every_recipe_resolves_into_typed_hparams(recipe: str) -> None:
    info = RECIPES[recipe]
    method = next(m for m in METHODS.values() if m.trains_generator == MODELS[info.model].generator)
    spec = RunSpec.model_validate(
        {"task": info.task, "model": {"name": info.model}, "method": {"name": method.name}, "recipe": recipe}
    )
    stored = resolve_hparams(spec)
    hp = Hparams.model_validate(stored)
    assert {k: getattr(hp, k) for k in stored} == stored  # read back unchanged (ints compare equal to floats)
    assert hp.recipe == recipe and hp.method_params == method.params


def test_defaults_live_in_the_model() -> None:
    hp = Hparams(epochs=1, batch_size=8, lr=0.1, optimizer="sgd", schedule="constant")
    assert (hp.momentum, hp.weight_decay, hp.workers, hp.checkpoint_every, hp.val_fraction) == (
        0.9,
        0.0,
        4,
        1,
        0.0,
    )
    assert (hp.train_subset, hp.split_seed, hp.protocol, hp.image_size) == (0, None, "paper", 224)


def test_hparam_types_are_derived_for_the_overridable_fields() -> None:
    previous = {
        "epochs": int, "batch_size": int, "lr": float, "momentum": float, "weight_decay": float,
        "weight_decay_xcl": float, "optimizer": str, "schedule": str, "lr_milestones": list, "lr_gamma": float,
        "warmup_epochs": float, "warmup_start_lr": float, "train_subset": int, "subset_seed": int,
        "split_seed": int, "val_fraction": float, "val_seed": int, "checkpoint_every": int, "workers": int,
        "data_root": str, "data_path": str, "samples_per_person": int, "protocol": str, "holdout_person": int,
        "mpiigaze_format": str, "cache_dir": str,
    }  # fmt: skip
    assert {k: HPARAM_TYPES[k] for k in previous} == previous
    assert "recipe" not in HPARAM_TYPES and "method_params" not in HPARAM_TYPES


def test_digits_protocol_options_are_typed_and_bounded() -> None:
    base = {"epochs": 1, "batch_size": 8, "lr": 0.1, "optimizer": "sgd", "schedule": "constant"}
    assert (HPARAM_TYPES["digits_protocol"], HPARAM_TYPES["val_size"]) == (str, int)
    hp = Hparams.model_validate({**base, "digits_protocol": "few-labels", "val_size": 200})
    assert (hp.digits_protocol, hp.val_size) == ("few-labels", 200)
    assert Hparams.model_validate(base).digits_protocol == "fixed"  # today's behaviour by default
    with pytest.raises(ValidationError, match="digits_protocol"):
        Hparams.model_validate({**base, "digits_protocol": "tiny"})
    with pytest.raises(ValidationError, match="val_size"):
        Hparams.model_validate({**base, "val_size": -1})
    assert Hparams.model_fields["val_size"].description


def test_strict_types_and_cross_field_rules() -> None:
    base = {"epochs": 1, "batch_size": 8, "lr": 0.1, "optimizer": "sgd"}
    with pytest.raises(ValidationError, match="epochs"):
        Hparams.model_validate({**base, "epochs": "3", "schedule": "constant"})
    with pytest.raises(ValidationError, match="warmup_start_lr"):
        Hparams.model_validate({**base, "schedule": "warmup-cosine", "warmup_epochs": 2})
    assert Hparams.model_validate(
        {**base, "schedule": "warmup-cosine", "warmup_epochs": 2, "warmup_start_lr": 0.01}
    )


def test_worker_folders_fill_in_where_the_spec_names_none(tmp_path: Path) -> None:
    base = Hparams(epochs=1, batch_size=8, lr=0.1, optimizer="sgd", schedule="constant")
    filled = base.with_folders(tmp_path / "data", tmp_path / "cache")
    assert (filled.data_root, filled.cache_dir) == (str(tmp_path / "data"), str(tmp_path / "cache"))
    own = base.model_copy(update={"data_root": "/datasets", "cache_dir": "/fast"})
    assert own.with_folders(tmp_path / "data", tmp_path / "cache") == own
    assert base.with_folders() is base
