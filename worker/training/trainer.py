"""The training loop shared by `xclab train` and the Celery task: epochs, evaluation, checkpoints, hooks."""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from worker.training.data import TaskData, load_task
from worker.training.methods import build_method
from worker.training.metrics import parameter_count, peak_memory_mb
from worker.training.models import build_model
from xclab.spec import RunSpec

CANCEL_CHECK_EVERY = 5  # steps between looks at the cancel flag


class Cancelled(Exception):
    """Raised inside the loop when the hooks ask to stop; the checkpoint on disk stays valid."""


class Hooks:
    """Override to stream metrics or stop early; the defaults do nothing."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        pass

    def should_stop(self) -> bool:
        return False


@dataclass
class TrainResult:
    final_metrics: dict[str, float]
    model_path: Path
    history: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(requested: str | None = None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _optimizer(model: nn.Module, hp: dict[str, Any]) -> torch.optim.Optimizer:
    if hp["optimizer"] == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=hp["lr"],
            momentum=hp["momentum"],
            weight_decay=hp["weight_decay"],
            nesterov=True,
        )
    if hp["optimizer"] == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    raise ValueError(f"unknown optimizer '{hp['optimizer']}'; allowed: sgd, adamw")


def _scheduler(
    opt: torch.optim.Optimizer, hp: dict[str, Any], steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    if hp["schedule"] == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
        )
    if hp["schedule"] == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    raise ValueError(f"unknown schedule '{hp['schedule']}'; allowed: cosine, constant")


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, autocast: Any
) -> dict[str, float]:
    model.eval()
    total_loss, correct = 0.0, 0.0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        with autocast():
            logits = model(xb).float()
        total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
    return {"loss": total_loss / len(x), "top1": 100.0 * correct / len(x)}


def train(
    spec: RunSpec,
    hparams: dict[str, Any],
    workdir: Path,
    hooks: Hooks | None = None,
    device: str | None = None,
    progress: bool = False,
) -> TrainResult:
    hooks = hooks or Hooks()
    dev = pick_device(device)
    workdir.mkdir(parents=True, exist_ok=True)
    seed_everything(spec.seed)

    data: TaskData = load_task(spec, hparams)
    train_x, train_y = data.train_x.to(dev), data.train_y.to(dev)  # small datasets live on the device
    test_x, test_y = data.test_x.to(dev), data.test_y.to(dev)
    model = build_model(
        spec.model.name, num_outputs=data.num_outputs, width=spec.model.width, input_shape=data.input_shape
    )
    model = model.to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)

    def autocast() -> Any:
        return torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else nullcontext()

    method = build_method(spec)
    epochs, batch_size = int(hparams["epochs"]), int(hparams["batch_size"])
    steps_per_epoch = max(1, math.ceil(len(train_x) / batch_size))
    optimizer = _optimizer(model, hparams)
    scheduler = _scheduler(optimizer, hparams, epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(spec.seed)

    checkpoint_path = workdir / "checkpoint.pt"
    start_epoch, history = 0, []
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=dev, weights_only=False)
        if state["spec"] == spec.model_dump(mode="json"):
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            generator.set_state(state["generator"])
            torch.set_rng_state(state["torch_rng"])
            start_epoch, history = state["epoch"], state["history"]

    params = parameter_count(model)
    started = time.perf_counter()
    epoch_iter = range(start_epoch, epochs)
    if progress:
        from tqdm import tqdm

        epoch_iter = tqdm(
            epoch_iter, initial=start_epoch, total=epochs, desc=f"{spec.method.name} {spec.task}", unit="ep"
        )
    step = start_epoch * steps_per_epoch
    for epoch in epoch_iter:
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(train_x), generator=generator).to(dev)
        loss_sum, correct, seen = 0.0, 0.0, 0
        for start in range(0, len(order), batch_size):
            if step % CANCEL_CHECK_EVERY == 0 and hooks.should_stop():
                raise Cancelled(f"cancelled at epoch {epoch + 1}, step {step}")
            idx = order[start : start + batch_size]
            xb, yb = train_x[idx], train_y[idx]
            with autocast():
                loss, logits = method.loss(model, xb, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
            seen += len(idx)
        epoch_seconds = time.perf_counter() - t0
        test = evaluate(model, test_x, test_y, 512, autocast)
        metrics = {
            "train_loss": loss_sum / seen,
            "train_top1": 100.0 * correct / seen,
            "test_loss": test["loss"],
            "test_top1": test["top1"],
            "lr": optimizer.param_groups[0]["lr"],
            "epoch_seconds": epoch_seconds,
            "samples_per_s": seen / epoch_seconds,
        }
        history.append({"epoch": epoch + 1, **metrics})
        hooks.on_epoch_end(epoch + 1, metrics)
        if progress:
            epoch_iter.set_postfix(
                loss=f"{metrics['train_loss']:.3f}", test_top1=f"{metrics['test_top1']:.1f}"
            )  # type: ignore[attr-defined]
        if (epoch + 1) % int(hparams.get("checkpoint_every", 1)) == 0 or epoch + 1 == epochs:
            _save_checkpoint(
                checkpoint_path, spec, model, optimizer, scheduler, generator, epoch + 1, history
            )

    model_path = workdir / "model.pt"
    torch.save(
        {
            "model": model.state_dict(),
            "spec": spec.model_dump(mode="json"),
            "hparams": hparams,
            "num_outputs": data.num_outputs,
            "input_shape": list(data.input_shape),
        },
        model_path,
    )
    final = dict(history[-1]) if history else {}
    final.pop("epoch", None)
    final.update(
        {
            "params": float(params),
            "wall_time_s": time.perf_counter() - started,
            "peak_memory_mb": peak_memory_mb(dev),
        }
    )
    return TrainResult(final_metrics=final, model_path=model_path, history=history)


def _save_checkpoint(
    path: Path, spec: RunSpec, model, optimizer, scheduler, generator, epoch, history
) -> None:  # type: ignore[no-untyped-def]
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "spec": spec.model_dump(mode="json"),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "epoch": epoch,
            "history": history,
        },
        tmp,
    )
    tmp.replace(path)
