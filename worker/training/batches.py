"""Training, validation and test batches, from device-resident tensors or (for ImageNet-sized data) a
DataLoader."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from worker.training.data import TaskData
from worker.training.streams import RunStreams

EVAL_BATCH = 512
Batch = tuple[torch.Tensor, torch.Tensor]


class Batches:
    def __init__(
        self,
        data: TaskData,
        device: torch.device,
        batch_size: int,
        streams: RunStreams,
        workers: int,
        val_fraction: float = 0.0,
        val_seed: int = 0,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self.data, self.device, self.batch_size, self.workers = data, device, batch_size, workers
        # (rank, world): a distributed rank trains on its slice of every global batch of `batch_size`.
        self.rank, self.world = shard
        self.streams = streams  # the data stream orders batches, the augment stream augments them
        self.val_x: torch.Tensor | None = None
        if data.in_memory:
            train_x, train_y = data.train_x, data.train_y
            if data.val_x is not None:  # the loader's own validation split
                if val_fraction > 0:
                    raise ValueError(
                        f"this task defines its validation split; drop val_fraction={val_fraction}"
                    )
                self.val_x, self.val_y = data.val_x.to(device), data.val_y.to(device)  # type: ignore[union-attr]
            elif val_fraction > 0:
                # A validation split carved from the training data, fixed by val_seed (not the run seed), so
                # model choices can be made without looking at the test split.
                order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(val_seed))
                n_val = max(1, round(val_fraction * len(train_x)))
                self.val_x, self.val_y = train_x[order[:n_val]].to(device), train_y[order[:n_val]].to(device)
                train_x, train_y = train_x[order[n_val:]], train_y[order[n_val:]]
            self.train_x, self.train_y = train_x.to(device), train_y.to(device)  # type: ignore[union-attr]
            self.test_x, self.test_y = data.test_x.to(device), data.test_y.to(device)  # type: ignore[union-attr]
        elif val_fraction > 0:
            raise ValueError(
                "val_fraction needs an in-memory task; ImageNet-sized tasks report their val folder"
            )

    @property
    def has_val(self) -> bool:
        return self.val_x is not None

    @property
    def train_size(self) -> int:
        return len(self.train_x) if self.data.in_memory else len(self.data.train_dataset)  # type: ignore[arg-type]

    @property
    def global_batch_size(self) -> int:
        return global_batch_size(self.batch_size, self.world, self.data.in_memory)

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(self.train_size / self.batch_size))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Stored inputs -> model inputs (normalised floats; channels-last on CUDA)."""
        x = self.data.prepare(x, None) if self.data.prepare else x.float()
        return (
            x.contiguous(memory_format=torch.channels_last)
            if self.device.type == "cuda" and x.dim() == 4
            else x
        )

    def train(self) -> Iterator[Batch]:
        if self.data.in_memory:
            order = torch.randperm(len(self.train_x), generator=self.streams.data).to(self.device)
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                if self.world > 1:
                    if len(idx) < self.world:  # a last global batch too small to give every rank a sample
                        break
                    idx = idx.tensor_split(self.world)[self.rank]
                yield self._augment(self.prepare(self.train_x[idx])), self.train_y[idx]
        else:
            yield from self._from_loader(self.data.train_dataset, shuffle=True)

    def test(self) -> Iterator[Batch]:
        if self.data.in_memory:
            yield from self._in_chunks(self.test_x, self.test_y)
        else:
            yield from self._from_loader(self.data.test_dataset, shuffle=False)

    def over(self, dataset: Any) -> Iterator[Batch]:
        """Evaluation batches of any further dataset (e.g. an extra test set), prepared as the test split."""
        yield from self._from_loader(dataset, shuffle=False)

    def val(self) -> Iterator[Batch]:
        assert self.val_x is not None
        yield from self._in_chunks(self.val_x, self.val_y)

    def _in_chunks(self, x: torch.Tensor, y: torch.Tensor) -> Iterator[Batch]:
        for start in range(0, len(x), EVAL_BATCH):
            yield self.prepare(x[start : start + EVAL_BATCH]), y[start : start + EVAL_BATCH]

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return self.data.augment(x, self.streams.augment) if self.data.augment else x

    def _from_loader(self, dataset: Any, shuffle: bool) -> Iterator[Batch]:
        sampler, batch_size = None, self.batch_size
        if shuffle and self.world > 1:  # every rank draws the sampler's seed from the shared data stream
            seed = int(torch.randint(0, 2**31, (1,), generator=self.streams.data).item())
            sampler = torch.utils.data.DistributedSampler(
                dataset, self.world, self.rank, shuffle=True, seed=seed, drop_last=True
            )
            batch_size = max(1, self.batch_size // self.world)
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            generator=self.streams.data,  # also seeds each worker: torch + random from it, numpy below
            worker_init_fn=_seed_worker,
            drop_last=shuffle,
            persistent_workers=self.workers > 0,
        )
        for x, y in loader:
            yield self.prepare(x.to(self.device, non_blocking=True)), y.to(self.device, non_blocking=True)


def global_batch_size(batch_size: int, world: int, in_memory: bool) -> int:
    """Samples per step over all ranks: `batch_size` (in-memory ranks slice it), but a DataLoader gives every rank
    batch_size // world."""
    return batch_size if world == 1 or in_memory else max(1, batch_size // world) * world


def _seed_worker(_worker_id: int) -> None:
    """DataLoader workers get torch/random seeds from the loader's generator; numpy needs them passed on."""
    np.random.seed(torch.initial_seed() % 2**32)
