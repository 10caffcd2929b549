"""A generator run's sample grids: bounded epochs, fixed noise, PNGs of the right shape, training untouched."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from PIL import Image

from worker.training.media import MAX_SAMPLE_GRIDS, sample_epochs, sample_grid_png
from worker.training.trainer import Hooks, train
from xclab.spec import RunSpec, resolve_hparams


def test_sample_epochs_are_bounded_and_end_with_the_last() -> None:
    assert sample_epochs(3) == {1, 2, 3}
    many = sample_epochs(500)
    assert len(many) == MAX_SAMPLE_GRIDS and max(many) == 500 and min(many) == 1
    assert sample_epochs(21, cap=20) <= set(range(1, 22)) and len(sample_epochs(21, cap=20)) == 20


def test_grid_png_tiles_images_with_padding() -> None:
    images = torch.linspace(-1, 1, 10 * 1 * 32 * 32).reshape(10, 1, 32, 32)
    picture = Image.open(io.BytesIO(sample_grid_png(images, columns=4, pad=2)))
    assert picture.format == "PNG" and picture.mode == "L"
    assert picture.size == (4 * 34 + 2, 3 * 34 + 2)  # 4 columns x 3 rows of 32 px + 2 px padding
    small = torch.zeros(2, 1, 8, 8)
    small[:, :, 0, 0] = 1.0  # one bright pixel per image, enlarged to a 4x4 block
    enlarged = Image.open(io.BytesIO(sample_grid_png(small, columns=2, pad=2)))
    assert enlarged.size == (2 * 34 + 2, 34 + 2)
    assert enlarged.getpixel((2, 2)) == enlarged.getpixel((5, 5)) == 255 and enlarged.getpixel((6, 6)) == 0
    rgb = Image.open(io.BytesIO(sample_grid_png(torch.rand(3, 3, 4, 4), columns=8)))
    assert rgb.mode == "RGB"
    with pytest.raises(ValueError, match="expected"):
        sample_grid_png(torch.rand(2, 2, 4, 4))


def test_a_gan_run_reports_samples_every_epoch_without_changing_its_training(tmp_path: Path) -> None:
    spec = RunSpec.model_validate(
        {"task": "digits", "model": {"name": "cgan", "width": 0.25}, "method": {"name": "gan"}, "epochs": 2}
    )

    class Samples(Hooks):
        def __init__(self) -> None:
            self.seen: dict[int, torch.Tensor] = {}

        def on_samples(self, epoch: int, images: torch.Tensor) -> None:
            self.seen[epoch] = images

    hooks = Samples()
    watched = train(spec, resolve_hparams(spec), tmp_path / "a", device="cpu", hooks=hooks)
    plain = train(spec, resolve_hparams(spec), tmp_path / "b", device="cpu")
    assert sorted(hooks.seen) == [1, 2]
    assert tuple(hooks.seen[1].shape) == (10 * 8, 1, 8, 8)
    assert not torch.equal(hooks.seen[1], hooks.seen[2])  # the generator moved between epochs
    keys = {"gan_d_loss", "gan_g_loss"}
    assert [{k: h[k] for k in keys} for h in watched.history] == [
        {k: h[k] for k in keys} for h in plain.history
    ]
