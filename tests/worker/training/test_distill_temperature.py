"""KD and XCL scale the KL by T^2 by default; at T = 1 the factor changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from worker.training.methods import MethodContext, build_method
from worker.training.teachers import TeacherEnsemble
from xclab.catalog import TASKS


def _loss(method: str, params: dict[str, Any]) -> float:
    torch.manual_seed(0)
    teacher, student = nn.Linear(64, 10), nn.Linear(64, 10)
    x, y = torch.randn(16, 64), torch.randint(0, 10, (16,))
    ctx = MethodContext(
        TASKS["digits"],
        10,
        params,
        torch.Generator().manual_seed(0),
        teachers=TeacherEnsemble([teacher], "digits"),
    )
    return build_method(method, ctx).step(student, x, y).loss.item()


@pytest.mark.parametrize("method", ["kd", "xcl-mix"])
def test_t_squared_is_the_default(method: str) -> None:
    plain = _loss(method, {"temperature": 4.0, "t2_factor": False})
    assert _loss(method, {"temperature": 4.0}) == pytest.approx(16 * plain, rel=1e-5)
    assert _loss(method, {"temperature": 1.0}) == pytest.approx(
        _loss(method, {"temperature": 1.0, "t2_factor": False})
    )
