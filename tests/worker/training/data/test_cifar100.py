"""CIFAR-100 loader on tiny pickles laid out like cifar-100-python/{train,test,meta}."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from worker.training.data import load_task
from worker.training.data.cifar100 import MEAN, STD, augment, prepare
from worker.training.data.common import DatasetNotFoundError
from xclab.hparams import DataHparams
from xclab.spec import RunSpec


def spec(**kw: object) -> RunSpec:
    return RunSpec(task="cifar100", model={"name": "small-cnn"}, **kw)


def write_cifar(
    folder: Path, n_train: int = 20, n_test: int = 10, bytes_keys: bool = True
) -> dict[str, dict]:
    """The archive's pickles: dicts with b"data" uint8 [N, 3072] (channel-major rows), b"fine_labels",
    b"coarse_labels", b"filenames", b"batch_label"; meta with the label names."""
    rng = np.random.RandomState(0)
    folder.mkdir(parents=True)

    def key(name: str) -> str | bytes:
        return name.encode() if bytes_keys else name

    splits = {}
    for name, n in (("train", n_train), ("test", n_test)):
        d = {
            key("filenames"): [f"img_{i}.png".encode() for i in range(n)],
            key("batch_label"): f"{name}ing batch 1 of 1".encode(),
            key("fine_labels"): rng.randint(0, 100, n).tolist(),
            key("coarse_labels"): rng.randint(0, 20, n).tolist(),
            key("data"): rng.randint(0, 256, (n, 3072)).astype(np.uint8),
        }
        (folder / name).write_bytes(pickle.dumps(d, protocol=2))
        splits[name] = d
    meta = {
        key("fine_label_names"): [f"class_{i}".encode() for i in range(100)],
        key("coarse_label_names"): [f"super_{i}".encode() for i in range(20)],
    }
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return splits


@pytest.mark.parametrize("bytes_keys", [True, False])
def test_loads_pickles_channel_major(tmp_path: Path, bytes_keys: bool) -> None:
    raw = write_cifar(tmp_path / "cifar-100-python", bytes_keys=bytes_keys)
    data = load_task(spec(), DataHparams(data_root=str(tmp_path)))
    k = (lambda s: s.encode()) if bytes_keys else (lambda s: s)
    assert data.kind == "classification" and data.num_outputs == 100
    assert data.train_x.shape == (20, 3, 32, 32) and data.train_x.dtype == torch.uint8
    assert data.test_x.shape == (10, 3, 32, 32) and data.test_y.dtype == torch.int64
    first = raw["train"][k("data")][0]
    assert np.array_equal(data.train_x[0, 0].numpy(), first[:1024].reshape(32, 32))  # red plane first
    assert np.array_equal(data.train_x[0, 2].numpy(), first[2048:].reshape(32, 32))
    assert data.train_y.tolist() == raw["train"][k("fine_labels")]
    assert data.test_y.tolist() == raw["test"][k("fine_labels")]


def test_data_path_and_limit(tmp_path: Path) -> None:
    write_cifar(tmp_path / "somewhere")
    data = load_task(spec(limit=7, seed=3), DataHparams(data_path=str(tmp_path / "somewhere")))
    assert len(data.train_x) == len(data.train_y) == 7 and len(data.test_x) == 10


def test_missing_folder_names_path_and_layout(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as err:
        load_task(spec(), DataHparams(data_root=str(tmp_path / "data")))
    message = str(err.value)
    assert str(tmp_path / "data" / "cifar-100-python") in message
    assert "{train,test,meta}" in message and "cifar-100-python.tar.gz" in message


def test_prepare_normalises_per_channel() -> None:
    x = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    x[:, 0] = 255
    out = prepare(x, None)
    assert out.dtype == torch.float32 and out.shape == x.shape
    assert torch.allclose(out[:, 0], torch.tensor((1 - MEAN[0]) / STD[0]))
    assert torch.allclose(out[:, 1], torch.tensor(-MEAN[1] / STD[1]))


def reference_candidates(image: torch.Tensor, black: torch.Tensor) -> list[torch.Tensor]:
    """Every 4-pixel-padded crop, flipped or not, of one prepared image (the per-image definition)."""
    padded = black.view(3, 1, 1).expand(3, 40, 40).clone()
    padded[:, 4:36, 4:36] = image
    crops = []
    for dy in range(9):
        for dx in range(9):
            crop = padded[:, dy : dy + 32, dx : dx + 32]
            crops += [crop, crop.flip(-1)]
    return crops


def test_augment_is_batchwise_crop_and_flip() -> None:
    x = prepare(torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8), None)
    out = augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, augment(x, torch.Generator().manual_seed(0)))  # reproducible from the generator
    black = -torch.tensor(MEAN) / torch.tensor(
        STD
    )  # torchvision pads the image with black before normalising
    for i in range(0, 64, 8):
        assert any(torch.equal(out[i], c) for c in reference_candidates(x[i], black)), i
    # One call draws a different crop/flip per image: copies of one image come out different.
    same = x[:1].expand(64, -1, -1, -1).contiguous()
    variants = {augment(same, torch.Generator().manual_seed(1))[i].sum().item() for i in range(64)}
    assert len(variants) > 10


def test_augment_handles_channels_last_batches() -> None:
    x = prepare(torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8), None)
    out = augment(x.contiguous(memory_format=torch.channels_last), torch.Generator().manual_seed(0))
    assert torch.equal(out, augment(x, torch.Generator().manual_seed(0)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_augment_runs_on_the_device_with_a_device_generator() -> None:
    x = prepare(torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8, device="cuda"), None)
    out = augment(x, torch.Generator(device="cuda").manual_seed(0))
    assert out.device.type == "cuda" and out.shape == x.shape
    assert torch.equal(out, augment(x, torch.Generator(device="cuda").manual_seed(0)))
