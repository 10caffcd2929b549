"""One epoch of training and one evaluation pass, in the style of torchvision's classification reference
(`train_one_epoch`, `evaluate`): explicit arguments, no hidden state."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from worker.training.batches import Batches
from worker.training.evaluation import Scorer, Split, collect
from worker.training.hooks import CANCEL_CHECK_EVERY, Cancelled, Hooks
from worker.training.losses import normalized_entropy
from worker.training.methods import Method

Autocast = Callable[[], AbstractContextManager[Any]]


def autocast_for(device: torch.device) -> Autocast:
    """bfloat16 autocast on CUDA, nothing elsewhere (CPU runs stay bit-for-bit reproducible)."""

    def ctx() -> AbstractContextManager[Any]:
        return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()

    return ctx


def train_one_epoch(
    model: nn.Module,
    method: Method[Any],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Batches,
    autocast: Autocast,
    hooks: Hooks,
    epoch: int,
    step: int,
) -> tuple[dict[str, float], int]:
    """Train over one shuffled pass of the training split; returns (epoch metrics, global step after it).
    Raises `Cancelled` when the hooks ask to stop (checked every few steps)."""
    model.train()
    classification = method.ctx.kind == "classification"
    t0 = time.perf_counter()
    loss_sum, correct, seen, entropy_sum, entropy_n = 0.0, 0.0, 0, 0.0, 0
    scored = transferred = 0  # originals the student saw (train accuracy); samples of its transfer sets
    distills = False
    for xb, yb in batches.train():
        if step % CANCEL_CHECK_EVERY == 0 and hooks.should_stop():
            raise Cancelled(f"cancelled at epoch {epoch + 1}, step {step}")
        hooks.on_train_batch(step, xb, yb)
        with autocast():
            out = method.step(model, xb, yb)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        scheduler.step()
        step += 1
        loss_sum += out.loss.item() * len(yb)
        seen += len(yb)
        scored += len(out.outputs)
        transferred += out.transfer_size or len(yb)
        distills = distills or out.transfer_size is not None
        if classification:  # the outputs are on the batch's first originals
            correct += (out.outputs.argmax(1) == yb[: len(out.outputs)]).sum().item()
        if out.targets is not None:
            entropy_sum += normalized_entropy(out.targets).sum().item()
            entropy_n += len(out.targets)
    seconds = time.perf_counter() - t0
    metrics = {"train_loss": loss_sum / seen}
    if classification:
        metrics["train_top1"] = 100.0 * correct / scored
    if distills:  # transfer samples per batch sample: an appended transfer set's extra compute (append: 2)
        metrics["transfer_ratio"] = transferred / seen
    if entropy_n:
        metrics["h_hat"] = 100.0 * entropy_sum / entropy_n
    metrics.update({"epoch_seconds": seconds, "samples_per_s": seen / seconds})
    return metrics, step


def evaluate(
    model: nn.Module,
    split: Split,
    scorer: Scorer,
    autocast: Autocast,
    prefix: str = "test",
    teacher_out: torch.Tensor | None = None,
) -> dict[str, float]:
    """Score the model on one split; with the ensemble's outputs on that split, also their agreement."""
    outputs, y = collect(model, split, autocast)
    metrics = scorer.score(outputs, y, prefix)
    if teacher_out is not None:
        metrics["teacher_agreement"] = scorer.agreement(outputs, teacher_out)
    return metrics
