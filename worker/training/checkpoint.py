"""Checkpoints that resume a run exactly (weights, optimiser, schedule and every random stream), and the
final `model.pt` that teachers and the artifact store read."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from worker.training.batches import Batches
from worker.training.data import TaskData
from worker.training.safe_load import load_checkpoint
from xclab.hparams import Hparams
from xclab.spec import RunSpec

History = list[dict[str, float]]


def save_checkpoint(
    path: Path,
    spec: RunSpec,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Batches,
    epoch: int,
    history: History,
) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "spec": spec.model_dump(mode="json"),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "streams": batches.streams.state(),
            "numpy_rng": _numpy_state(),
            "python_rng": random.getstate(),
            "epoch": epoch,
            "history": history,
        },
        tmp,
    )
    tmp.replace(path)  # atomic: a crash never leaves half a checkpoint


def resume(
    path: Path,
    spec: RunSpec,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Batches,
) -> tuple[int, History]:
    """(epochs done, history so far), restoring every state; (0, []) when there is no checkpoint of this spec."""
    if not path.exists():
        return 0, []
    state = load_checkpoint(path, batches.device)
    if state["spec"] != spec.model_dump(mode="json") or "streams" not in state:  # another spec or format
        return 0, []
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    batches.streams.set_state(state["streams"])
    _set_numpy_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
    return state["epoch"], state["history"]


def save_model(
    path: Path, spec: RunSpec, model: nn.Module, hp: Hparams, num_outputs: int, data: TaskData
) -> Path:
    """The finished model with what rebuilds it (teachers.load_member): spec, output count and input shape,
    plus the hyperparameters and the data's facts (e.g. the persons it trained on)."""
    torch.save(
        {
            "kind": "model",
            "model": model.state_dict(),
            "spec": spec.model_dump(mode="json"),
            "hparams": hp.model_dump(mode="json"),
            "num_outputs": num_outputs,
            "input_shape": list(data.input_shape),
            # As JSON values: a loader's numpy number would make the file refuse a weights_only load.
            "data_info": json.loads(json.dumps(data.info or {}, default=_plain)),
        },
        path,
    )
    return path


def _numpy_state() -> list[object]:
    """numpy's global state as plain values (a weights_only load refuses numpy arrays)."""
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _set_numpy_state(state: list[object]) -> None:
    name, keys, pos, has_gauss, cached = state
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))  # type: ignore[arg-type]


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else str(value)
