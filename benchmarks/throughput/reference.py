"""The common reference pipelines: a torchvision Dataset decoding PIL images with RandomCrop/RandomHorizontalFlip,
a DataLoader with workers, default fp32 (TF32 where PyTorch enables it by default), eager teachers one by one."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from benchmarks.throughput.sizes import Sizes
from benchmarks.throughput.timing import Measurement, timed_steps

CIFAR_MEAN, CIFAR_STD = (0.507, 0.487, 0.441), (0.267, 0.256, 0.276)


class PilImages(Dataset[tuple[torch.Tensor, int]]):
    """HWC uint8 arrays served as torchvision's CIFAR100 serves them: PIL image -> transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: transforms.Compose) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def cifar_loader(images: np.ndarray, labels: np.ndarray, sizes: Sizes, device: torch.device) -> DataLoader:
    augment = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(CIFAR_MEAN, CIFAR_STD),
        ]
    )
    return DataLoader(
        PilImages(images, labels, augment),
        batch_size=sizes.batch,
        shuffle=True,
        num_workers=sizes.loader_workers,
        pin_memory=device.type == "cuda",
        drop_last=True,
        persistent_workers=sizes.loader_workers > 0,
    )


def erm_reference(model: nn.Module, loader: DataLoader, sizes: Sizes, device: torch.device) -> Measurement:
    """torchvision's classification reference loop: fp32, loss read back every step for the logger."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    model.train()
    batches = _forever(loader)

    def step() -> None:
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()

    return timed_steps(step, sizes, images_per_step=sizes.batch, device=device)


def xcl_reference(
    student: nn.Module, teachers: list[nn.Module], x_all: torch.Tensor, sizes: Sizes, device: torch.device
) -> Measurement:
    """XCL-Mix as a plain loop: B originals + B MixUp samples, each teacher called in turn (fp32, BN unfolded)."""
    opt = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9)
    student.train()
    for t in teachers:
        t.eval().requires_grad_(False)
    gen = torch.Generator(device=device).manual_seed(0)

    def step() -> None:
        idx = torch.randint(0, len(x_all), (sizes.batch,), device=device, generator=gen)
        x = x_all[idx]
        lam = torch.rand(len(x), 1, 1, 1, device=device, generator=gen)
        mixed = lam * x + (1 - lam) * x.flip(0)
        transfer = torch.cat([x, mixed])
        with torch.no_grad():
            probs = torch.stack([torch.softmax(t(transfer), 1) for t in teachers]).mean(0)
        loss = nn.functional.kl_div(torch.log_softmax(student(transfer), 1), probs, reduction="batchmean")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()

    return timed_steps(step, sizes, images_per_step=sizes.batch, device=device)


def tensor_loader_reference(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, sizes: Sizes, device: torch.device
) -> Measurement:
    """Small in-memory datasets (gaze, digits) the usual way: TensorDataset + DataLoader on the host."""
    loader = DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=batch, shuffle=True, drop_last=True,
        pin_memory=device.type == "cuda",
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = _forever(loader)
    model.train()

    def step() -> None:
        xb, yb = next(batches)
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        loss = nn.functional.mse_loss(model(xb)[:, : yb.shape[1]], yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()

    return timed_steps(step, sizes, images_per_step=batch, device=device)


def _forever(loader: DataLoader):  # type: ignore[no-untyped-def]
    while True:
        yield from loader
