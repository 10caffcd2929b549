"""Adding a method is one engine class registered by decorator plus one catalog entry: this test adds a tiny one
(cross-entropy on scaled logits), checks a spec naming it, trains it through the real engine and removes it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from worker.training.methods import METHOD_CLASSES, Method, StepOutput, register_method
from worker.training.trainer import train
from xclab.catalog import METHODS, MethodInfo, MethodParams
from xclab.spec import RunSpec, check_spec, resolve_hparams

NAME = "scaled-ce"


class ScaledCEParams(MethodParams):
    scale: float = Field(default=1.0, gt=0, description="Logits are multiplied by this before the loss.")


@contextmanager
def scaled_ce_registered() -> Iterator[None]:
    @register_method(NAME)
    class ScaledCE(Method[ScaledCEParams]):
        params_model = ScaledCEParams

        def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> StepOutput:
            out = model(x)
            return StepOutput(F.cross_entropy(out.float() * self.p.scale, y), out)

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(
            METHODS, NAME, MethodInfo(NAME, False, "Cross-entropy on scaled logits.", ScaledCEParams)
        )
        try:
            yield
        finally:
            METHOD_CLASSES.unregister(NAME)


def _spec(**params: float) -> RunSpec:
    return RunSpec.model_validate(
        {
            "task": "digits",
            "model": {"name": "small-cnn", "width": 0.25},
            "method": {"name": NAME, **params},
            "epochs": 1,
        }
    )


def test_a_method_registered_with_a_catalog_entry_is_checked_and_trains(tmp_path: Path) -> None:
    with scaled_ce_registered():
        assert set(METHODS) - {"gan"} == set(METHOD_CLASSES.names())
        assert [(i.loc, i.msg) for i in check_spec(_spec(scale=-1.0))] == [
            (("method", "scale"), "scale must be > 0")
        ]
        spec = _spec(scale=2.0)
        assert check_spec(spec) == []
        hparams = resolve_hparams(spec)
        assert hparams["method_params"] == {"scale": 2.0}
        result = train(spec, hparams, tmp_path, device="cpu")
        assert result.final_metrics["test_top1"] > 10 and "h_hat" not in result.final_metrics
    assert NAME not in METHODS and NAME not in METHOD_CLASSES
    assert [i.msg for i in check_spec(_spec())] == [
        f"unknown method '{NAME}'; allowed: {', '.join(sorted(METHODS))}"
    ]
