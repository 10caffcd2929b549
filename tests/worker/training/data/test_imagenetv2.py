"""ImageNetV2 beside ImageNet: its three variants as their tarballs unpack (class folders named by class index,
"<hash>.jpeg" files), scored as extra test sets of every ImageNet run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from worker.training.data import load_task
from worker.training.data.imagenet import V2_VARIANTS
from worker.training.trainer import train
from xclab.hparams import DataHparams
from xclab.spec import RunSpec, resolve_hparams

# 12 classes, so that ImageNetV2's folder names sort differently as strings ("10" < "2") than as numbers.
WNIDS = [f"n{i:08d}" for i in range(12)]


def _jpeg(path: Path, rng: np.random.RandomState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.randint(0, 256, (40, 48, 3)).astype(np.uint8)).save(path, quality=90)


def write_data(root: Path, variants: list[str]) -> None:
    rng = np.random.RandomState(0)
    for split in ("train", "val"):
        for wnid in WNIDS:
            _jpeg(root / "imagenet" / split / wnid / f"{wnid}_0.JPEG", rng)
    for folder in variants:
        for index in (2, 10, 11):  # a subset of classes, as a partial download would have
            _jpeg(root / "imagenetv2" / folder / str(index) / f"{index:040x}.jpeg", rng)


def spec(**kw: object) -> RunSpec:
    return RunSpec.model_validate({"task": "imagenet", "model": {"name": "resnet50"}, **kw})


def test_each_variant_found_is_an_extra_test_set_with_class_index_targets(tmp_path: Path) -> None:
    write_data(tmp_path, list(V2_VARIANTS.values()))
    data = load_task(spec(), DataHparams(data_root=str(tmp_path), image_size=32))
    assert data.extra_test_datasets is not None and set(data.extra_test_datasets) == set(V2_VARIANTS)
    for dataset in data.extra_test_datasets.values():
        targets = sorted(dataset[i][1] for i in range(len(dataset)))
        assert targets == [2, 10, 11]  # the folder's number, not its position in a string sort
        assert dataset[0][0].shape == (3, 32, 32)
    assert (data.info or {})["extra_test_sets"] == dict.fromkeys(V2_VARIANTS, 3)


def test_without_imagenetv2_there_is_nothing_extra(tmp_path: Path) -> None:
    write_data(tmp_path, [])
    data = load_task(spec(), DataHparams(data_root=str(tmp_path), image_size=32))
    assert data.extra_test_datasets == {}


def test_a_folder_that_is_not_a_class_index_is_refused(tmp_path: Path) -> None:
    write_data(tmp_path, [V2_VARIANTS["imagenetv2_top_images"]])
    _jpeg(
        tmp_path / "imagenetv2" / V2_VARIANTS["imagenetv2_top_images"] / "n01440764" / "a.jpeg",
        np.random.RandomState(1),
    )
    with pytest.raises(ValueError, match="class indices 0..11"):
        load_task(spec(), DataHparams(data_root=str(tmp_path), image_size=32))


def test_a_run_reports_imagenetv2_top1_next_to_imagenet_top1(tmp_path: Path) -> None:
    write_data(
        tmp_path, [V2_VARIANTS["imagenetv2_matched_frequency"], V2_VARIANTS["imagenetv2_threshold_0.7"]]
    )
    run = spec(
        epochs=1, overrides={"image_size": 32, "batch_size": 8, "workers": 0, "data_root": str(tmp_path)}
    )
    final = train(run, resolve_hparams(run), tmp_path / "run", device="cpu").final_metrics
    assert 0 <= final["test_top1"] <= 100
    for prefix in ("imagenetv2_matched_frequency", "imagenetv2_threshold_0.7"):
        assert 0 <= final[f"{prefix}_top1"] <= 100 and final[f"{prefix}_loss"] > 0
    assert "imagenetv2_top_images_top1" not in final
