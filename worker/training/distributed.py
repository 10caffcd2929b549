"""Multi-GPU runs: DistributedDataParallel over N processes on one worker, torchrun-style.

The calling process (the Celery pool process, or `xclab train`) is rank 0: it keeps the run's hooks (metrics,
environment, cancellation), evaluates, checkpoints and writes the model. Ranks 1..N-1 are child processes
(`python -m worker.training.rank_process`, not multiprocessing: Celery's pool processes are daemonic and may not
fork daemons of their own) that train with no-op hooks. NCCL on CUDA (rank r uses the r-th visible GPU), gloo on CPU.

`batch_size` is the GLOBAL batch: every rank draws the same seeded permutation (the shared data stream) and takes
its disjoint slice of each global batch, so a run's schedule, steps per epoch and (without BatchNorm,
augmentation or mixing) its updates are those of a single-process run; DDP averages the gradients of the per-rank
mean losses. BatchNorm becomes SyncBatchNorm on CUDA (global-batch statistics); on CPU each rank normalises its
own slice. Each rank > 0 augments and mixes from streams of its own, so slices are not augmented alike.

The world size is `resources.gpus` on CUDA. On CPU a run with gpus > 1 trains in `XCL_DDP_CPU_PROCESSES` processes
(default 1: one process, the same global batches); the variable forces the gloo path (tests, debugging). Runs
with gpus 0 or 1 always train in one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from worker.training.hooks import Cancelled, Hooks, TrainResult
from worker.training.streams import STREAMS, RunStreams

CPU_PROCESSES_ENV = "XCL_DDP_CPU_PROCESSES"
TIMEOUT = timedelta(minutes=30)  # a rank stuck this long in a collective fails the run instead of hanging it
JOINED = "xcl/joined"  # ranks > 0 add 1 to this store key once they reach the group
CANCELLED_EXIT = 3  # a rank > 0 that saw rank 0's cancel


@dataclass(frozen=True)
class Rank:
    rank: int
    world: int

    @property
    def main(self) -> bool:
        return self.rank == 0


def world_size(gpus: int, device: torch.device) -> int:
    """How many processes train the run on this device (1: the single-process path)."""
    if device.type == "cuda":
        if gpus > torch.cuda.device_count():
            raise RuntimeError(
                f"the run asks for {gpus} GPUs but this process sees {torch.cuda.device_count()}; "
                "multi-GPU runs need a worker started with --concurrency 1 on a node with that many GPUs"
            )
        return max(1, gpus)
    if gpus <= 1:
        return 1
    value = os.environ.get(CPU_PROCESSES_ENV, "").strip() or "1"
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{CPU_PROCESSES_ENV} must be a positive integer, not {value!r}")
    return int(value)


def rank_device(device: torch.device, rank: Rank) -> torch.device:
    return torch.device("cuda", rank.rank) if device.type == "cuda" else device


def launch(
    world: int, device: torch.device, kwargs: dict[str, Any], train_rank: Callable[..., TrainResult]
) -> TrainResult:
    """Start ranks 1..world-1 as child processes, train rank 0 here, and return rank 0's result. `kwargs` are
    train()'s arguments as JSON values (spec and hparams as stored); `train_rank(rank=...)` trains one rank."""
    port = _free_port()
    args = json.dumps({**kwargs, "world": world, "port": port, "device": device.type, "parent": os.getpid()})
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "worker.training.rank_process", str(r), args], env=os.environ.copy()
        )
        for r in range(1, world)
    ]
    try:
        init_group(Rank(0, world), device, port, children)
        try:
            result = train_rank(rank=Rank(0, world))
        finally:
            dist.destroy_process_group()
    except BaseException as exc:
        # Rank 0 may see a dead peer's closed socket just before that process is reapable: give it a moment.
        failed_peer = isinstance(exc, Exception) and not isinstance(exc, Cancelled)
        crashed = _failed(children, grace_s=2.0 if failed_peer else 0.0)
        _stop(children)  # a failed or cancelled rank 0 leaves the others blocked in a collective
        if crashed and failed_peer:
            raise RuntimeError(
                f"distributed ranks failed (rank, exit code): {crashed}; rank 0: {exc}"
            ) from exc
        raise
    failed = [(r, c.wait()) for r, c in enumerate(children, 1)]
    failed = [(r, code) for r, code in failed if code != 0]
    if failed:
        raise RuntimeError(f"distributed ranks failed (rank, exit code): {failed}")
    return result


def _failed(children: list[subprocess.Popen[bytes]], grace_s: float) -> list[tuple[int, int]]:
    """(rank, exit code) of the children that exited non-zero, waiting up to `grace_s` in all for them."""
    deadline, failed = time.monotonic() + grace_s, []
    for r, child in enumerate(children, 1):
        try:
            code = child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            continue
        if code != 0:
            failed.append((r, code))
    return failed


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        child.terminate()
    for child in children:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def describe(rank: Rank, device: torch.device, global_batch: int) -> dict[str, Any]:
    """The run's distributed set-up, for its environment record (per-rank batch: the mean over the ranks)."""
    return {
        "backend": "nccl" if device.type == "cuda" else "gloo",
        "world_size": rank.world,
        "global_batch_size": global_batch,
        "per_rank_batch_size": global_batch / rank.world,
        "sync_batchnorm": device.type == "cuda",
    }


def init_group(
    rank: Rank, device: torch.device, port: int, children: list[subprocess.Popen[bytes]] | None = None
) -> None:
    """Join the run's process group through a TCP store on rank 0. Rank 0 waits for every other rank to check in,
    failing at once (not after the collective timeout) if one of its `children` exits before it does."""
    if device.type == "cuda":
        torch.cuda.set_device(rank.rank)
    store = dist.TCPStore(
        "127.0.0.1", port, rank.world, is_master=rank.main, timeout=TIMEOUT, wait_for_workers=False
    )
    if rank.main:
        deadline = time.monotonic() + TIMEOUT.total_seconds()
        while store.add(JOINED, 0) < rank.world - 1:
            gone = [(r, c.returncode) for r, c in enumerate(children or [], 1) if c.poll() is not None]
            if gone or time.monotonic() > deadline:
                raise RuntimeError(f"distributed ranks exited before joining (rank, exit code): {gone}")
            time.sleep(0.2)
    else:
        store.add(JOINED, 1)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, store=store, rank=rank.rank, world_size=rank.world, timeout=TIMEOUT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The student as DDP trains it (rank 0's weights broadcast to every rank); checkpoints keep `model`."""
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[device.index])
    return DistributedDataParallel(model)


def reseed_rank_streams(streams: RunStreams, rank: Rank) -> None:
    """Ranks > 0 augment, mix, sample and drop out from streams of their own; the data stream stays shared so
    every rank cuts the same permutation."""
    if rank.main:
        return

    def seed(stream: str) -> int:
        key = (STREAMS.index(stream), rank.rank)
        state = np.random.SeedSequence(entropy=streams.seed, spawn_key=key).generate_state(2)
        return (int(state[0]) << 31 ^ int(state[1])) & (2**63 - 1)

    streams.augment.manual_seed(seed("augment"))
    streams.mixing.manual_seed(seed("mixing"))
    streams.samples.manual_seed(seed("samples"))
    torch.manual_seed(seed("model"))


def mean_over_ranks(metrics: dict[str, float], keys: tuple[str, ...], device: torch.device) -> None:
    """Average the epoch's training metrics over the ranks (each saw its slice); every rank must call it."""
    present = [k for k in keys if k in metrics]
    t = torch.tensor([metrics[k] for k in present], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    for k, v in zip(present, (t / dist.get_world_size()).tolist(), strict=True):
        metrics[k] = v


def check_in_sync(model: nn.Module, device: torch.device) -> None:
    """Raise on every rank if the ranks' weights differ after training (DDP keeps them equal step by step; a
    difference means a rank trained on something else). Compares exact float64 sums, moments and a position-
    weighted sum of every parameter."""
    flat = torch.cat([p.detach().double().flatten() for p in model.parameters()])
    position = torch.arange(1, len(flat) + 1, dtype=torch.float64, device=flat.device)
    mine = torch.stack([flat.sum(), (flat * flat).sum(), (flat * position).sum()]).to(device)
    every = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(every, mine)
    if any(not torch.equal(every[0], other) for other in every[1:]):
        raise RuntimeError(f"the ranks' weights differ after training: {[t.tolist() for t in every]}")


class RankHooks(Hooks):
    """Rank 0's hooks on rank 0, no-ops elsewhere; `should_stop` is rank 0's answer on every rank (the loop asks
    at the same steps everywhere, so the broadcast lines up)."""

    def __init__(self, inner: Hooks, rank: Rank, device: torch.device) -> None:
        self.inner, self.rank, self.device = inner, rank, device

    def on_model_built(self, model: nn.Module) -> None:
        self.inner.on_model_built(model)

    def on_environment(self, environment: dict[str, Any]) -> None:
        self.inner.on_environment(environment)

    def on_train_batch(self, step: int, x: torch.Tensor, y: torch.Tensor) -> None:
        self.inner.on_train_batch(step, x, y)

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        self.inner.on_epoch_end(epoch, metrics)

    def on_resume(self, epoch: int) -> None:
        self.inner.on_resume(epoch)

    def on_checkpoint(self, path: Path, epoch: int) -> None:
        self.inner.on_checkpoint(path, epoch)

    def should_stop(self) -> bool:
        flag = torch.tensor([1 if self.rank.main and self.inner.should_stop() else 0], device=self.device)
        dist.broadcast(flag, src=0)
        return bool(flag.item())
