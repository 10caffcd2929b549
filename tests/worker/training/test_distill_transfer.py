"""KD and XCL: the KL is scaled by T^2 by default; XCL transfer batches are composed half and half by default."""

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


class _Spy(nn.Module):
    """A student that records the transfer sets it is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.seen = nn.Linear(64, 10), []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.lin(x.flatten(1))


def _transfer(params: dict[str, Any], batch: int = 8) -> tuple[torch.Tensor, torch.Tensor, Any]:
    torch.manual_seed(0)
    x, y = torch.randn(batch, 1, 8, 8), torch.randint(0, 10, (batch,))
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    ctx = MethodContext(
        TASKS["digits"],
        10,
        params,
        torch.Generator().manual_seed(0),
        teachers=TeacherEnsemble([teacher], "digits"),
    )
    student = _Spy()
    out = build_method("xcl-mix", ctx).step(student, x, y)
    return x, student.seen[0], out


def test_half_composition_is_the_default_b_over_2_original_plus_b_over_2_mixed() -> None:
    x, seen, out = _transfer({"mix": "mixup"})
    assert len(seen) == 8 and out.transfer_size == 8 and len(out.outputs) == 4
    assert torch.equal(seen[:4], x[:4])  # the batch's first half, as is
    assert not any(torch.equal(seen[i], x[j]) for i in range(4, 8) for j in range(8))  # then 4 mixes


def test_append_composition_keeps_every_original_and_adds_mixes() -> None:
    x, seen, out = _transfer({"mix": "cutmix", "batch_composition": "append"})
    assert len(seen) == 16 and out.transfer_size == 16 and len(out.outputs) == 8
    assert torch.equal(seen[:8], x)


def test_mix_ratio_above_one_draws_fresh_mixes() -> None:
    x, seen, out = _transfer({"mix": "mixup", "mix_ratio": 3.0, "batch_composition": "append"})
    assert len(seen) == 8 + 24
    first, second, third = seen[8:16], seen[16:24], seen[24:32]
    assert not torch.equal(first, second) and not torch.equal(second, third)  # no repeats
    x, seen, out = _transfer({"mix": "both", "mix_ratio": 3.0})  # half: B/4 original, 3B/4 mixed
    assert len(seen) == 8 and len(out.outputs) == 2 and torch.equal(seen[:2], x[:2])
