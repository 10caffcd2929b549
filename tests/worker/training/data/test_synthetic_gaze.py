from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from worker.training.data import eye_renderer, load_task, synthetic_gaze
from worker.training.data.eye_renderer import render, sample_batch, sample_people
from worker.training.data.gaze_geometry import angular_error_deg
from xclab.hparams import DataHparams
from xclab.spec import RunSpec

SMALL = {"num_persons": 15, "samples_per_person": 6}


def spec(seed: int = 0, **kw: object) -> RunSpec:
    return RunSpec(task="synthetic-gaze", model={"name": "lenet"}, seed=seed, **kw)


def dark_centroid(images: torch.Tensor) -> torch.Tensor:
    """(x, y) centroid of each image's darkest 5 % of pixels, [N, 2]."""
    flat = images[:, 0].flatten(1)
    threshold = flat.quantile(0.05, dim=1, keepdim=True)
    weight = (flat <= threshold).float().view(-1, 36, 60)
    ys, xs = torch.meshgrid(torch.arange(36.0), torch.arange(60.0), indexing="ij")
    total = weight.sum((1, 2))
    return torch.stack([(weight * xs).sum((1, 2)) / total, (weight * ys).sum((1, 2)) / total], 1)


def test_render_shape_range_and_determinism() -> None:
    people = sample_people(8, torch.Generator().manual_seed(1))
    gaze = torch.tensor([[-0.2, 0.3]] * 8)
    head = torch.zeros(8, 2)
    a = render(gaze, head, people, torch.Generator().manual_seed(7))
    b = render(gaze, head, people, torch.Generator().manual_seed(7))
    c = render(gaze, head, people, torch.Generator().manual_seed(8))
    assert a.shape == (8, 1, 36, 60) and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1 and a.std() > 0.05
    assert torch.equal(a, b)
    assert not torch.equal(a, c)  # lighting/noise are per image
    images, gaze_out = sample_batch(5, torch.Generator().manual_seed(3))
    again, _ = sample_batch(5, torch.Generator().manual_seed(3))
    assert images.shape == (5, 1, 36, 60) and gaze_out.shape == (5, 2) and torch.equal(images, again)


def test_rendering_does_not_depend_on_cpu_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eye_renderer, "CPU_CHUNK", 256)
    a = sample_batch(40, torch.Generator().manual_seed(2))[0]
    monkeypatch.setattr(eye_renderer, "CPU_CHUNK", 7)
    b = sample_batch(40, torch.Generator().manual_seed(2))[0]
    assert torch.equal(a, b)


def test_pupil_follows_gaze() -> None:
    n = 32
    people = sample_people(n, torch.Generator().manual_seed(4))
    head = torch.zeros(n, 2)

    def at(pitch: float, yaw: float) -> torch.Tensor:
        # Same generator seed: only the gaze differs between the renders being compared.
        gaze = torch.tensor([[pitch, yaw]]).expand(n, 2)
        return dark_centroid(render(gaze, head, people, torch.Generator().manual_seed(0)))

    left, right = at(0.0, 0.45), at(0.0, -0.45)
    # yaw > 0 looks towards the camera's -x: the pupil moves to the image's left.
    assert (left[:, 0] < right[:, 0]).float().mean() >= 0.9
    assert (right[:, 0] - left[:, 0]).mean() > 3.0
    up, down = at(0.3, 0.0), at(-0.3, 0.0)
    assert (up[:, 1] - down[:, 1]).mean() < -1.0  # pitch > 0 looks up: smaller row index


def test_gaze_is_learnable_from_pixels() -> None:
    # Even ridge regression on 4x-downsampled pixels beats predicting the mean gaze by a wide margin
    # (ratio about 0.6 with these sizes).
    x, y = sample_batch(1200, torch.Generator().manual_seed(0))
    feats = torch.nn.functional.avg_pool2d(x, 4).flatten(1)
    feats = torch.cat([feats, torch.ones(len(feats), 1)], 1)
    train, test = slice(0, 960), slice(960, None)
    w = torch.linalg.solve(
        feats[train].T @ feats[train] + torch.eye(feats.shape[1]), feats[train].T @ y[train]
    )
    ridge = angular_error_deg(feats[test] @ w, y[test]).item()
    baseline = angular_error_deg(y[train].mean(0).expand_as(y[test]), y[test]).item()
    assert ridge < 0.75 * baseline


def test_sample_batch_draws_from_given_people_and_returns_head_pose() -> None:
    people = sample_people(3, torch.Generator().manual_seed(0))
    images, gaze, head = sample_batch(
        6, torch.Generator().manual_seed(1), people=people, return_head_pose=True
    )
    assert images.shape == (6, 1, 36, 60) and gaze.shape == head.shape == (6, 2)
    with pytest.raises(ValueError, match="N people"):
        render(gaze, head, people, None)


def test_loader_paper_protocol_splits_12_3_and_moves_with_seed() -> None:
    splits = {}
    for seed in range(4):
        data = load_task(spec(seed), DataHparams(**SMALL))
        assert data.kind == "regression" and data.num_outputs == 2
        info = data.info or {}
        assert len(info["train_persons"]) == 12 and len(info["test_persons"]) == 3
        assert not set(info["train_persons"]) & set(info["test_persons"])
        # Eye image + head-pose row (gaze_input)
        assert data.train_x.shape == (12 * 6, 1, 37, 60) and data.train_x.dtype == torch.uint8
        assert data.test_x.shape == (3 * 6, 1, 37, 60)
        assert data.train_y.shape == (72, 2) and data.train_y.dtype == torch.float32
        assert data.train_aux is not None and data.train_aux.shape == (72, 2)
        prepared = data.prepare(data.train_x[:4], None)[:, :, :36]
        assert prepared.dtype == torch.float32 and 0 <= prepared.min() and prepared.max() <= 1
        splits[seed] = tuple(info["test_persons"])
    assert len(set(splits.values())) > 1
    assert load_task(spec(2), DataHparams(**SMALL)).info["test_persons"] == list(
        splits[2]
    )  # same seed, same split


def test_dataset_is_fixed_across_run_seeds() -> None:
    a = load_task(spec(0), DataHparams(**SMALL, protocol="leave-one-out", holdout_person="p05"))
    b = load_task(spec(9), DataHparams(**SMALL, protocol="leave-one-out", holdout_person=5))
    assert a.info["test_persons"] == b.info["test_persons"] == ["p05"]
    assert torch.equal(a.test_x, b.test_x) and torch.equal(a.test_y, b.test_y)
    assert len(a.info["train_persons"]) == 14
    # Default fold: run seed mod #persons.
    assert load_task(spec(17), DataHparams(**SMALL, protocol="leave-one-out")).info["test_persons"] == ["p02"]
    other = load_task(
        spec(0), DataHparams(**SMALL, protocol="leave-one-out", holdout_person="p05", dataset_seed=1)
    )
    assert not torch.equal(a.test_x, other.test_x)


def test_bad_protocol_and_holdout_are_rejected() -> None:
    with pytest.raises(ValidationError, match="protocol"):
        DataHparams(**SMALL, protocol="random")
    with pytest.raises(ValueError, match="out of range"):
        load_task(spec(), DataHparams(**SMALL, protocol="leave-one-out", holdout_person=15))


def test_limit_draws_a_training_subset_fixed_by_subset_seed() -> None:
    hparams = DataHparams(**SMALL, protocol="leave-one-out", holdout_person=0)
    data = load_task(spec(1, limit=10), hparams)
    assert len(data.train_x) == len(data.train_y) == len(data.train_aux) == 10
    assert len(data.test_x) == 6
    # Same labelled subset for every run seed (teachers and students of a grid agree) ...
    assert torch.equal(load_task(spec(2, limit=10), hparams).train_y, data.train_y)
    # ... and another one for another subset_seed.
    assert not torch.equal(
        load_task(spec(1, limit=10), hparams.model_copy(update={"subset_seed": 1})).train_y, data.train_y
    )


def test_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hparams = DataHparams(**SMALL, cache_dir=str(tmp_path / "cache"))
    first = load_task(spec(), hparams)
    assert len(list((tmp_path / "cache").glob("synthetic-gaze-*.pt"))) == 1

    def fail(*args: object, **kw: object) -> None:
        raise AssertionError("cache not used")

    monkeypatch.setattr(synthetic_gaze, "generate_dataset", fail)
    second = load_task(spec(), hparams)
    assert torch.equal(first.train_x, second.train_x) and torch.equal(first.test_y, second.test_y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_generator_drives_the_same_render_on_gpu() -> None:
    cpu = sample_batch(64, torch.Generator().manual_seed(5))[0]
    gpu = sample_batch(64, torch.Generator().manual_seed(5), device="cuda")[0]
    assert gpu.device.type == "cuda" and torch.allclose(cpu, gpu.cpu(), atol=1e-4)
    on_device = sample_batch(64, torch.Generator(device="cuda").manual_seed(5))[0]
    assert on_device.shape == (64, 1, 36, 60) and on_device.device.type == "cuda"
