"""ImageNet loader on a few small JPEGs in <wnid> class folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from worker.training.data import load_task
from worker.training.data.common import DatasetNotFoundError
from worker.training.data.imagenet import Lighting
from xclab.hparams import DataHparams
from xclab.spec import RunSpec

WNIDS = ["n01440764", "n01443537", "n01484850"]


def spec(**kw: object) -> RunSpec:
    return RunSpec(task="imagenet", model={"name": "resnet50"}, **kw)


def write_imagenet(root: Path, val_wnids: list[str] | None = None) -> None:
    rng = np.random.RandomState(0)
    for split, wnids in (("train", WNIDS), ("val", val_wnids or WNIDS)):
        for wnid in wnids:
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for i in range(2):
                h, w = rng.randint(40, 90), rng.randint(40, 90)
                pixels = rng.randint(0, 256, (h, w, 3)).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{wnid}_{i}.JPEG", quality=90)


def test_train_and_val_transforms_give_224(tmp_path: Path) -> None:
    write_imagenet(tmp_path / "imagenet")
    data = load_task(spec(), DataHparams(data_root=str(tmp_path)))
    assert data.kind == "classification" and data.num_outputs == 3 and not data.in_memory
    assert len(data.train_dataset) == 6 and len(data.test_dataset) == 6
    image, target = data.train_dataset[0]
    assert image.shape == (3, 224, 224) and image.dtype == torch.float32 and target == 0
    image, target = data.test_dataset[5]
    assert image.shape == (3, 224, 224) and target == 2
    assert data.input_shape == (3, 224, 224)
    # Validation is deterministic (resize + centre crop); training is random.
    assert torch.equal(data.test_dataset[1][0], data.test_dataset[1][0])
    assert not torch.equal(data.train_dataset[1][0], data.train_dataset[1][0])


def test_val_with_fewer_classes_keeps_training_indices(tmp_path: Path) -> None:
    write_imagenet(tmp_path / "imagenet", val_wnids=[WNIDS[2]])
    data = load_task(spec(), DataHparams(data_path=str(tmp_path / "imagenet")))
    assert data.num_outputs == 3
    assert {data.test_dataset[i][1] for i in range(len(data.test_dataset))} == {2}


def test_limit_takes_a_subset(tmp_path: Path) -> None:
    write_imagenet(tmp_path / "imagenet")
    data = load_task(spec(limit=4), DataHparams(data_root=str(tmp_path), image_size=64))
    assert len(data.train_dataset) == 4 and data.train_dataset[0][0].shape == (3, 64, 64)


def test_lighting_adds_one_colour_shift_per_image() -> None:
    torch.manual_seed(0)
    img = torch.rand(3, 8, 8)
    out = Lighting(0.1)(img)
    shift = out - img
    assert shift.abs().sum() > 0
    assert torch.allclose(shift, shift[:, :1, :1].expand_as(shift))


def test_missing_folder_names_path_and_layout(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as err:
        load_task(spec(), DataHparams(data_root=str(tmp_path / "data")))
    message = str(err.value)
    assert str(tmp_path / "data" / "imagenet") in message and "train/<wnid>/*.JPEG" in message
    (tmp_path / "data" / "imagenet" / "train").mkdir(parents=True)
    (tmp_path / "data" / "imagenet" / "val").mkdir()
    with pytest.raises(DatasetNotFoundError, match="imagenet"):
        load_task(spec(), DataHparams(data_root=str(tmp_path / "data")))
