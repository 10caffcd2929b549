"""Every method trains end to end on digits through the real engine, including a distilled two-member ensemble."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from worker.training.trainer import Hooks, train
from xclab.spec import RunSpec, check_spec, resolve_hparams


def _spec(
    method: dict[str, Any], seed: int = 0, model: str = "small-cnn", width: float = 0.5, **kw: Any
) -> RunSpec:
    spec = RunSpec.model_validate(
        {"task": "digits", "model": {"name": model, "width": width}, "method": method, "seed": seed, **kw}
    )
    problems = [i.msg for i in check_spec(spec) if i.loc != ("teachers",)]
    assert not problems, problems
    return spec


def _train(tmp: Path, spec: RunSpec, **kw: Any):  # type: ignore[no-untyped-def]
    hparams = resolve_hparams(spec)
    return train(
        spec, hparams, tmp / f"{spec.method.name}-{spec.seed}-{len(list(tmp.iterdir()))}", device="cpu", **kw
    )


@pytest.fixture(scope="module")
def teachers(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("teachers")
    return [_train(tmp, _spec({"name": "erm"}, seed=s, epochs=5)).model_path for s in (1, 2)]


@pytest.fixture(scope="module")
def generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("gan")
    result = _train(tmp, _spec({"name": "gan"}, model="cgan", width=0.25, epochs=3))
    assert result.final_metrics["gan_d_loss"] > 0
    return result.model_path


@pytest.mark.parametrize(
    "method",
    [{"name": "erm"}, {"name": "ls", "epsilon": 0.18}, {"name": "mixup"}, {"name": "cutmix", "alpha": 0.5}],
)
def test_methods_without_teachers(tmp_path: Path, method: dict[str, Any]) -> None:
    result = _train(tmp_path, _spec(method, epochs=3))
    assert result.final_metrics["test_top1"] > 50  # chance: 10 %
    assert {"test_ece", "test_top5", "params", "macs", "wall_time_s", "samples_per_s", "h_hat"} <= set(
        result.final_metrics
    )
    if method["name"] == "ls":
        # H-hat of LS targets with 10 classes: -(0.82 ln 0.82 + 9 * 0.02 ln 0.02) / ln 10 = 0.8669 / 2.3026
        assert result.final_metrics["h_hat"] == pytest.approx(37.65, abs=0.01)
    if method["name"] == "erm":
        assert result.final_metrics["h_hat"] == pytest.approx(0.0, abs=1e-3)


def test_distillation_methods_from_a_two_member_ensemble(
    tmp_path: Path, teachers: list[Path], generator: Path
) -> None:
    results = {}
    for method, extra in [
        ({"name": "kd"}, {}),
        ({"name": "kd", "temperature": 4.0, "t2_factor": True, "gt_weight": 0.2}, {}),
        ({"name": "xcl-mix"}, {}),
        ({"name": "xcl-gan", "generator_run": 1}, {"generator_path": generator}),
        (
            {"name": "xcl-gan", "generator_run": 1, "mode": "offline", "offline_size": 500},
            {"generator_path": generator},
        ),
    ]:
        spec = _spec(method, epochs=3, teachers=[101, 102])
        result = _train(tmp_path, spec, teacher_paths=teachers, **extra)
        m = result.final_metrics
        assert m["teacher_members"] == 2 and m["teacher_test_top1"] > 80
        assert m["test_top1"] > 50 and 0 <= m["teacher_agreement"] <= 100
        results[f"{method['name']}-{len(results)}"] = m
    # The extended transfer sets hold inputs the ensemble is less sure about: higher target entropy than KD.
    assert results["xcl-mix-2"]["h_hat"] > results["kd-0"]["h_hat"]
    assert results["xcl-gan-3"]["h_hat"] > results["kd-0"]["h_hat"]


def test_xcl_gan_without_generator_fails_clearly(tmp_path: Path, teachers: list[Path]) -> None:
    spec = _spec({"name": "xcl-gan", "generator_run": 1}, epochs=1, teachers=[1, 2])
    with pytest.raises(ValueError, match="generator_run"):
        _train(tmp_path, spec, teacher_paths=teachers)


def test_deterministic_on_cpu(tmp_path: Path) -> None:
    a = _train(tmp_path, _spec({"name": "mixup"}, epochs=2)).history
    b = _train(tmp_path, _spec({"name": "mixup"}, epochs=2)).history
    strip = [{k: v for k, v in h.items() if k not in {"epoch_seconds", "samples_per_s"}} for h in (a + b)]
    assert strip[: len(a)] == strip[len(a) :]


class StopAfterTwo(Hooks):
    """Cancels the run once two epochs are done, recording the checkpoints it wrote."""

    def __init__(self) -> None:
        self.epochs_seen, self.checkpoints = 0, []

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        self.epochs_seen = epoch

    def on_checkpoint(self, path: Path, epoch: int) -> None:
        assert path.is_file()
        self.checkpoints.append(epoch)

    def should_stop(self) -> bool:
        return self.epochs_seen >= 2


class Recording(Hooks):
    """What a resumed attempt reports: where it resumed, the epochs it reports and the checkpoints it writes."""

    def __init__(self) -> None:
        self.resumed_at: list[int] = []
        self.reported: list[int] = []
        self.checkpoints: list[int] = []

    def on_resume(self, epoch: int) -> None:
        self.resumed_at.append(epoch)

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        self.reported.append(epoch)

    def on_checkpoint(self, path: Path, epoch: int) -> None:
        self.checkpoints.append(epoch)


def _straight_and_resumed(spec: RunSpec, tmp: Path) -> tuple[Any, Any, StopAfterTwo, Recording]:
    """The run trained without interruption, and again cancelled after two epochs then resumed in its folder."""
    from worker.training.trainer import Cancelled

    hparams = resolve_hparams(spec)
    straight = train(spec, hparams, tmp / "straight", device="cpu")
    first, then = StopAfterTwo(), Recording()
    with pytest.raises(Cancelled):
        train(spec, hparams, tmp / "resumed", hooks=first, device="cpu")
    resumed = train(spec, hparams, tmp / "resumed", hooks=then, device="cpu")
    return straight, resumed, first, then


def test_resume_continues_exactly(tmp_path: Path) -> None:
    straight, resumed, first, then = _straight_and_resumed(_spec({"name": "erm"}, epochs=4), tmp_path)
    a = torch.load(straight.model_path, weights_only=True)["model"]
    b = torch.load(resumed.model_path, weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Every value but the timings, epoch by epoch (the size metrics once, at epoch 1, in both).
    timings = {"epoch_seconds", "samples_per_s"}
    untimed = [
        [{k: v for k, v in h.items() if k not in timings} for h in r.history] for r in (straight, resumed)
    ]
    assert untimed[0] == untimed[1]
    # Checkpoints of every epoch but the last (the finished model follows it); the second call resumed at 2.
    assert first.checkpoints == [1, 2] and then.resumed_at == [2] and then.checkpoints == [3]


def test_a_generator_run_resumes_exactly(tmp_path: Path) -> None:
    spec = _spec({"name": "gan"}, model="cgan", width=0.25, epochs=3)
    straight, resumed, first, then = _straight_and_resumed(spec, tmp_path)
    a = torch.load(straight.model_path, weights_only=True)["generator"]
    b = torch.load(resumed.model_path, weights_only=True)["generator"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    losses = [[(h["gan_d_loss"], h["gan_g_loss"]) for h in r.history] for r in (straight, resumed)]
    assert losses[0] == losses[1]
    # Checkpoints after epochs 1 and 2; the resumed attempt re-reports both and then trains epoch 3.
    assert first.checkpoints == [1, 2] and then.resumed_at == [2] and then.reported == [1, 2, 3]


def test_offline_xcl_gan_stores_pool_with_soft_labels(
    tmp_path: Path, teachers: list[Path], generator: Path
) -> None:
    spec = _spec(
        {"name": "xcl-gan", "generator_run": 1, "mode": "offline", "offline_size": 300},
        epochs=1,
        teachers=[1, 2],
    )
    workdir = tmp_path / "offline"
    train(
        spec, resolve_hparams(spec), workdir, device="cpu", teacher_paths=teachers, generator_path=generator
    )
    pool = torch.load(workdir / "offline_pool.pt", weights_only=True)
    [probs] = pool["targets"]
    assert pool["images"].shape == (300, 1, 8, 8) and probs.shape == (300, 10)
    assert torch.allclose(probs.sum(1), torch.ones(300), atol=1e-4)


def test_validation_split_is_carved_from_training_data(tmp_path: Path) -> None:
    spec = _spec({"name": "erm"}, epochs=2, overrides={"val_fraction": 0.2})
    result = _train(tmp_path, spec)
    m = result.final_metrics
    assert {"val_loss", "val_top1", "val_ece", "test_top1"} <= set(m)
    assert all("val_loss" in h for h in result.history)


def test_eval_every_skips_evaluations_but_always_scores_the_last_epoch(tmp_path: Path) -> None:
    spec = _spec({"name": "erm"}, epochs=5, overrides={"eval_every": 2})
    history = _train(tmp_path, spec).history
    assert [("test_top1" in h, "train_loss" in h) for h in history] == [
        (False, True), (True, True), (False, True), (True, True), (True, True)
    ]  # fmt: skip
