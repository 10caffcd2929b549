"""CIFAR-100 from the python pickles (`cifar-100-python/{train,test,meta}` from cifar-100-python.tar.gz).

Images stay uint8 [N, 3, 32, 32] (150 MB for the training set, so it fits on the device); `prepare` turns a
batch into normalised floats and `augment` does the standard 4-pixel-pad random crop + horizontal flip
(the paper's "standard random cropping and horizontal flipping") for the whole batch at once on the device.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worker.training.data import TaskData, register_loader
from worker.training.data.common import DatasetNotFoundError, dataset_dir, shown, subset_indices
from xclab.hparams import DataHparams
from xclab.spec import RunSpec

FOLDER = "cifar-100-python"
NUM_CLASSES = 100
# Per-channel statistics of the CIFAR-100 training set, the values the public CIFAR-100 recipes use.
MEAN = (0.5071, 0.4865, 0.4409)
STD = (0.2673, 0.2564, 0.2762)
PAD = 4


def _unpickle(path: Path) -> dict[str, Any]:
    """The archive's pickles were written by Python 2: latin1 reads their numpy arrays, and keys may come back
    as str or (for re-pickled copies) bytes, so both are accepted."""
    with path.open("rb") as f:
        raw = pickle.load(f, encoding="latin1")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _read_split(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    d = _unpickle(path)
    if "data" not in d or "fine_labels" not in d:
        hint = " (this looks like CIFAR-10: it has 'labels')" if "labels" in d else ""
        raise ValueError(f"{path}: expected keys 'data' and 'fine_labels', found {sorted(d)}{hint}")
    data = np.asarray(d["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: 'data' has shape {data.shape}, expected [N, 3072]")
    labels = np.asarray(d["fine_labels"], dtype=np.int64)
    if len(labels) != len(data) or labels.min(initial=0) < 0 or labels.max(initial=0) >= NUM_CLASSES:
        raise ValueError(f"{path}: {len(labels)} fine_labels for {len(data)} images, or labels outside 0..99")
    # Rows are channel-major 3x32x32 (all red, then green, then blue), i.e. already NCHW.
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels)


def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return mean, std


def prepare(x: torch.Tensor, _generator: torch.Generator | None = None) -> torch.Tensor:
    """uint8 [B, 3, 32, 32] -> float, per-channel normalised; float input is taken to be in [0, 1]."""
    mean, std = _stats(x)
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    return (x - mean) / std


def augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random 32x32 crop of the image zero-padded by 4 (black, as torchvision's RandomCrop pads before
    normalising), then a random horizontal flip: one gather for the whole batch, no per-image loop.
    `x` is a prepared (normalised) batch [B, C, H, W]; random numbers come from `generator` on x's device."""
    b, c, h, w = x.shape
    dev = x.device
    gen_dev = generator.device if generator is not None else dev
    shift_y = torch.randint(0, 2 * PAD + 1, (b,), generator=generator, device=gen_dev).to(dev) - PAD
    shift_x = torch.randint(0, 2 * PAD + 1, (b,), generator=generator, device=gen_dev).to(dev) - PAD
    flip = torch.rand(b, generator=generator, device=gen_dev).to(dev) < 0.5
    cols = torch.arange(w, device=dev)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + shift_x[:, None]  # [B, W] source columns
    rows = torch.arange(h, device=dev) + shift_y[:, None]  # [B, H] source rows
    valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # [B, H, W]
    batch = torch.arange(b, device=dev)[:, None, None]
    out = x[batch, :, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]  # [B, H, W, C]
    out = out.permute(0, 3, 1, 2)
    if x.dtype == torch.uint8:
        black = torch.zeros((1, c, 1, 1), dtype=x.dtype, device=dev)
    else:
        mean, std = _stats(x)
        black = (-mean / std).to(x.dtype) if c == 3 else torch.zeros((1, c, 1, 1), dtype=x.dtype, device=dev)
    return torch.where(valid[:, None], out, black).contiguous(memory_format=_memory_format(x))


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    return (
        torch.channels_last
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
        else (torch.contiguous_format)
    )


def _layout_error(folder: Path, missing: list[str]) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"CIFAR-100 not found: looked in {shown(folder)} (missing {', '.join(missing)}); expected "
        f"{folder}/{{train,test,meta}} (the python pickles from cifar-100-python.tar.gz); "
        "set data_root or data_path to point elsewhere"
    )


@register_loader("cifar100")
def load_cifar100(spec: RunSpec, hp: DataHparams) -> TaskData:
    folder = dataset_dir(hp, FOLDER)
    missing = [name for name in ("train", "test") if not (folder / name).is_file()]
    if missing:
        raise _layout_error(folder, missing)
    train_x, train_y = _read_split(folder / "train")
    test_x, test_y = _read_split(folder / "test")
    info: dict[str, Any] = {"dataset": "cifar100", "path": str(folder), "num_classes": NUM_CLASSES}
    if (folder / "meta").is_file():
        names = _unpickle(folder / "meta").get("fine_label_names")
        if names is not None and len(names) != NUM_CLASSES:
            raise ValueError(f"{folder / 'meta'}: {len(names)} fine_label_names, expected {NUM_CLASSES}")
    subset = subset_indices(len(train_x), spec, hp)
    if subset is not None:
        idx = torch.from_numpy(subset)
        train_x, train_y = train_x[idx], train_y[idx]
    info.update(train_size=len(train_x), test_size=len(test_x))
    return TaskData(
        kind="classification",
        num_outputs=NUM_CLASSES,
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        prepare=prepare,
        augment=augment,
        info=info,
    )
