"""Every optimizer and schedule that Hparams allows is implemented, and the schedules have the recipes' shape."""

from __future__ import annotations

import typing
from typing import Any

import pytest
import torch
from torch import nn

from worker.training.schedules import build_optimizer, build_scheduler, lr_factor
from xclab.hparams import Hparams, Optimizer, Schedule


def _hp(**fields: Any) -> Hparams:
    return Hparams.model_validate(
        {"epochs": 10, "batch_size": 8, "lr": 0.4, "optimizer": "sgd", "schedule": "constant", **fields}
    )


@pytest.mark.parametrize("optimizer", typing.get_args(Optimizer))
@pytest.mark.parametrize("schedule", typing.get_args(Schedule))
def test_every_allowed_name_is_implemented(optimizer: str, schedule: str) -> None:
    hp = _hp(optimizer=optimizer, schedule=schedule, lr_milestones=[5], warmup_epochs=1, warmup_start_lr=0.1)
    opt = build_optimizer(nn.Linear(2, 2), hp)
    scheduler = build_scheduler(opt, hp, steps_per_epoch=3)
    opt.step()
    scheduler.step()
    assert opt.param_groups[0]["lr"] > 0


def test_step_and_warmup_cosine_factors() -> None:
    step = _hp(schedule="step", lr_milestones=[2, 4], lr_gamma=0.5)
    assert [lr_factor(step, e) for e in (0, 1.99, 2, 4)] == [1.0, 1.0, 0.5, 0.25]
    warm = _hp(schedule="warmup-cosine", warmup_epochs=2, warmup_start_lr=0.1)
    assert lr_factor(warm, 0) == pytest.approx(0.25) and lr_factor(warm, 1) == pytest.approx(0.625)
    assert lr_factor(warm, 2) == pytest.approx(1.0) and lr_factor(warm, 10) == pytest.approx(0.0)


def test_adam_takes_momentum_as_beta1() -> None:
    opt = build_optimizer(nn.Linear(2, 2), _hp(optimizer="adam", momentum=0.5))
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["betas"] == (0.5, 0.999)
