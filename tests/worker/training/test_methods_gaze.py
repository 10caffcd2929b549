"""Every gaze method trains through the real engine on a tiny synthetic-eye set, with a Gaussian-output ensemble."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.nn import functional as F

from worker.training.losses import gaussian_nll
from worker.training.methods.base import MethodContext
from worker.training.methods.erm import ERM
from worker.training.trainer import train
from xclab.catalog import TASKS
from xclab.spec import RunSpec, check_spec, resolve_hparams

TINY = {"samples_per_person": 24, "split_seed": 0}


def _spec(
    model: str, width: float, method: dict[str, Any], seed: int = 0, teachers: list[int] | None = None
) -> RunSpec:
    spec = RunSpec.model_validate(
        {
            "task": "synthetic-gaze",
            "model": {"name": model, "width": width},
            "method": method,
            "seed": seed,
            "epochs": 2,
            "overrides": TINY,
            "teachers": teachers or [],
        }
    )
    assert not check_spec(spec)
    return spec


@pytest.fixture(scope="module")
def teachers(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("gaze-teachers")
    paths = []
    for k in range(2):
        spec = _spec("preact-resnet9", 0.125, {"name": "mixup", "alpha": 0.4}, seed=100 + k)
        paths.append(train(spec, resolve_hparams(spec), tmp / str(k), device="cpu").model_path)
    return paths


@pytest.mark.parametrize(
    "method",
    [
        {"name": "erm"},
        {"name": "erm", "loss": "mse"},
        {"name": "mixup", "alpha": 0.4},
        {"name": "kd"},
        {"name": "xcl-mix", "mix": "mixup"},
        {"name": "xcl-gan"},
        {"name": "xcl-gan", "mode": "offline", "offline_size": 64},
    ],
)
def test_gaze_methods(tmp_path: Path, teachers: list[Path], method: dict[str, Any]) -> None:
    distil = method["name"] in {"kd", "xcl-mix", "xcl-gan"}
    spec = _spec("lenet", 0.25, method, teachers=[1, 2] if distil else None)
    result = train(
        spec, resolve_hparams(spec), tmp_path, device="cpu", teacher_paths=teachers if distil else None
    )
    m = result.final_metrics
    assert 0 < m["test_angular_error"] < 90 and m["test_sigma"] > 0
    if distil:
        assert m["teacher_members"] == 2 and m["teacher_test_angular_error"] > 0
        assert m["teacher_agreement"] >= 0  # mean angle between student and ensemble predictions
    if method.get("mode") == "offline":
        pool = torch.load(tmp_path / "offline_pool.pt", weights_only=True)
        assert pool["images"].shape == (64, 1, 37, 60)  # rendered eye + head-pose row
        mu, log_var = pool["targets"]
        assert mu.shape == (64, 2) and log_var.shape == (64,)


def test_erm_loss_option_picks_mse_or_gaussian_nll() -> None:
    out = torch.tensor([[0.1, -0.2, 0.5], [0.3, 0.0, -1.0]])
    y = torch.tensor([[0.0, 0.1], [0.2, -0.1]])
    ctx = lambda loss: MethodContext(TASKS["synthetic-gaze"], 2, {"loss": loss}, torch.Generator())  # noqa: E731
    model = torch.nn.Identity()
    mse = ERM(ctx("mse")).step(model, out, y).loss
    nll = ERM(ctx("nll")).step(model, out, y).loss
    assert torch.allclose(mse, F.mse_loss(out[:, :2], y))
    assert torch.allclose(nll, gaussian_nll(out[:, :2], out[:, 2], y))
    assert torch.allclose(ERM(ctx("auto")).step(model, out, y).loss, nll)
    assert torch.allclose(ERM(ctx("auto")).step(model, out[:, :2], y).loss, mse)  # no variance output
    with pytest.raises(ValueError, match="variance output"):
        ERM(ctx("nll")).step(model, out[:, :2], y)


def test_erm_loss_is_checked_against_task_and_model() -> None:
    def issues(task: str, model: dict[str, Any], loss: str) -> list[str]:
        spec = RunSpec.model_validate({"task": task, "model": model, "method": {"name": "erm", "loss": loss}})
        return [i.msg for i in check_spec(spec) if i.loc == ("method", "loss")]

    assert issues("synthetic-gaze", {"name": "lenet"}, "nll") == []
    assert issues("synthetic-gaze", {"name": "lenet", "options": {"uncertainty": False}}, "mse") == []
    assert (
        "use loss mse"
        in issues("synthetic-gaze", {"name": "lenet", "options": {"uncertainty": False}}, "nll")[0]
    )
    assert "remove loss" in issues("digits", {"name": "small-cnn"}, "mse")[0]


def test_label_smoothing_is_refused_for_gaze() -> None:
    spec = RunSpec.model_validate(
        {"task": "synthetic-gaze", "model": {"name": "lenet"}, "method": {"name": "ls"}}
    )
    assert any("needs class labels" in issue.msg for issue in check_spec(spec))


def test_teacher_trained_on_the_students_test_persons_is_refused(
    tmp_path: Path, teachers: list[Path]
) -> None:
    spec = RunSpec.model_validate(
        {
            "task": "synthetic-gaze",
            "model": {"name": "lenet", "width": 0.25},
            "method": {"name": "kd"},
            "epochs": 1,
            "overrides": {"samples_per_person": 24, "split_seed": 5},
            "teachers": [1, 2],
        }
    )
    with pytest.raises(ValueError, match="held out for this student's test split"):
        train(spec, resolve_hparams(spec), tmp_path, device="cpu", teacher_paths=teachers)
