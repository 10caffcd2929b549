"""The project's pipelines, built from the engine's own pieces: device-resident `Batches` with the CIFAR loader's
GPU crop/flip, the registered methods, `train_one_epoch` (bf16 autocast and channels_last on CUDA), and the
accel fast paths (a CUDA-graph-captured step, a folded bf16 stacked ensemble)."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from benchmarks.throughput.sizes import Sizes
from benchmarks.throughput.timing import Measurement, sync
from worker.training.accel.folded_teachers import StackedTeachers
from worker.training.accel.graphed_step import GraphedStep
from worker.training.batches import Batches
from worker.training.data import TaskData
from worker.training.data import cifar100 as cifar
from worker.training.hooks import Hooks
from worker.training.loop import autocast_for, train_one_epoch
from worker.training.losses import mixup
from worker.training.methods import build_method
from worker.training.methods.base import MethodContext
from worker.training.streams import RunStreams
from worker.training.teachers import TeacherEnsemble
from xclab.catalog import METHODS, TASKS


def cifar_data(images: torch.Tensor, labels: torch.Tensor) -> TaskData:
    return TaskData(
        "classification",
        100,
        images,
        labels,
        images[:1],
        labels[:1],
        prepare=cifar.prepare,
        augment=cifar.augment,
    )


def regression_data(x: torch.Tensor, y: torch.Tensor) -> TaskData:
    return TaskData("regression", 2, x, y, x[:1], y[:1])


def _epoch_set(data: TaskData, batch: int, steps: int) -> TaskData:
    """The first batch x steps training samples, so that one engine epoch is exactly `steps` steps."""
    n = batch * steps
    assert data.train_x is not None and data.train_y is not None
    reps = -(-n // len(data.train_x))
    x = data.train_x.repeat(reps, *([1] * (data.train_x.dim() - 1)))[:n]
    y = data.train_y.repeat(reps, *([1] * (data.train_y.dim() - 1)))[:n]
    return TaskData(data.kind, data.num_outputs, x, y, data.test_x, data.test_y, data.prepare, data.augment)


def _method(name: str, task: str, data: TaskData, device: torch.device, teachers: Any = None, **params: Any):  # type: ignore[no-untyped-def]
    params = METHODS[name].params_model.model_validate(params).model_dump()
    ctx = MethodContext(
        TASKS[task], data.num_outputs, params, torch.Generator().manual_seed(0), device, teachers
    )
    ctx.autocast = autocast_for(device)
    return build_method(name, ctx)


def _optimizer(model: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def engine_epochs(
    model: nn.Module, method_name: str, task: str, data: TaskData, sizes: Sizes, batch: int,
    device: torch.device, teachers: Any = None, **params: Any,
) -> Measurement:  # fmt: skip
    """The engine exactly as a run uses it: one warm-up epoch of `warmup` steps, then a timed one of `steps`."""
    method = _method(method_name, task, data, device, teachers, **params)
    opt, sched = _optimizer(model)
    autocast = autocast_for(device)
    warm = Batches(_epoch_set(data, batch, sizes.warmup), device, batch, RunStreams(0, device), workers=0)
    train_one_epoch(model, method, opt, sched, warm, autocast, Hooks(), epoch=0, step=1)
    timed = Batches(_epoch_set(data, batch, sizes.steps), device, batch, RunStreams(1, device), workers=0)
    sync(device)
    t0 = time.perf_counter()
    train_one_epoch(model, method, opt, sched, timed, autocast, Hooks(), epoch=1, step=1)
    sync(device)
    seconds = time.perf_counter() - t0
    return Measurement(batch * sizes.steps / seconds, sizes.steps, seconds)


def graphed_erm(model: nn.Module, data: TaskData, sizes: Sizes, device: torch.device) -> Measurement:
    """The ERM step captured whole in a CUDA graph; batches still come from the engine's `Batches`."""
    method = _method("erm", "cifar100", data, device)
    opt, _ = _optimizer(model)
    batches = Batches(
        _epoch_set(data, sizes.batch, sizes.steps), device, sizes.batch, RunStreams(0, device), workers=0
    )
    x0, y0 = next(batches.train())
    step = GraphedStep(model, opt, lambda m, x, y: method.step(m, x, y).loss, x0, y0, autocast_for(device))
    note = "CUDA graph" if step.captured else "eager (no CUDA: nothing to capture)"
    return _timed_epochs(lambda xb, yb: step(xb, yb), batches, sizes, device, note)


def graphed_xcl(
    student: nn.Module, members: list[nn.Module], data: TaskData, sizes: Sizes, device: torch.device
) -> Measurement:
    """XCL-Mix (B originals + B MixUp samples) with BN-folded bf16 stacked teachers and the step in one graph;
    the mixing (host-side random draws) stays outside the graph."""
    dtype = torch.bfloat16 if device.type == "cuda" else None
    teachers = StackedTeachers(members, device, dtype)
    opt, _ = _optimizer(student)
    autocast = autocast_for(device)
    gen = torch.Generator().manual_seed(0)

    def loss_fn(model: nn.Module, transfer: torch.Tensor, _y: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(teachers(transfer), dim=2).mean(0)
        return nn.functional.kl_div(
            torch.log_softmax(model(transfer).float(), 1), probs, reduction="batchmean"
        )

    def transfer_of(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, mixup(x, 1.0, gen)[0]])

    batches = Batches(
        _epoch_set(data, sizes.batch, sizes.steps), device, sizes.batch, RunStreams(0, device), workers=0
    )
    x0, y0 = next(batches.train())
    step = GraphedStep(student, opt, loss_fn, transfer_of(x0), y0, autocast)
    note = "folded bf16 stacked teachers, CUDA graph" if step.captured else "folded stacked teachers, eager"
    return _timed_epochs(lambda xb, yb: step(transfer_of(xb), yb), batches, sizes, device, note)


def engine_teacher_ensemble(members: list[nn.Module]) -> TeacherEnsemble:
    return TeacherEnsemble(members, "cifar100")


def _timed_epochs(step: Any, batches: Batches, sizes: Sizes, device: torch.device, note: str) -> Measurement:
    it = batches.train()
    for _ in range(min(sizes.warmup, sizes.steps)):
        step(*next(it))
    sync(device)
    t0, seen = time.perf_counter(), 0
    for xb, yb in batches.train():
        loss = step(xb, yb)
        seen += len(yb)
    float(loss)  # one read-back per epoch, as a logger that averages on the device would
    sync(device)
    seconds = time.perf_counter() - t0
    return Measurement(seen / seconds, sizes.steps, seconds, note)
