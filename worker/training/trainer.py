"""The training loop shared by `xclab train` and the Celery task: epochs, evaluation, checkpoints, hooks."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from worker.training.data import TaskData, load_task
from worker.training.evaluation import classification_metrics, collect, regression_metrics, teacher_outputs
from worker.training.losses import normalized_entropy
from worker.training.methods import MethodContext, OfflinePool, Sampler, build_method
from worker.training.metrics import peak_memory_mb
from worker.training.models import build_model
from worker.training.schedules import build_optimizer, build_scheduler
from worker.training.teachers import TeacherEnsemble
from xclab.spec import RunSpec

CANCEL_CHECK_EVERY = 5  # steps between looks at the cancel flag
EVAL_BATCH = 512


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


class Batches:
    """Training and test batches, from device-resident tensors or (for ImageNet-sized data) a DataLoader."""

    def __init__(
        self,
        data: TaskData,
        device: torch.device,
        batch_size: int,
        seed: int,
        workers: int,
        val_fraction: float = 0.0,
        val_seed: int = 0,
    ) -> None:
        self.data, self.device, self.batch_size, self.workers = data, device, batch_size, workers
        self.cpu_gen = torch.Generator().manual_seed(seed)
        self.dev_gen = torch.Generator(device=device).manual_seed(seed)
        self.val_x: torch.Tensor | None = None
        if data.in_memory:
            train_x, train_y = data.train_x, data.train_y
            if val_fraction > 0:
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

    def val(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        assert self.val_x is not None
        for start in range(0, len(self.val_x), EVAL_BATCH):
            yield (
                self._prepare(self.val_x[start : start + EVAL_BATCH]),
                self.val_y[start : start + EVAL_BATCH],
            )

    @property
    def train_size(self) -> int:
        return len(self.train_x) if self.data.in_memory else len(self.data.train_dataset)  # type: ignore[arg-type]

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(self.train_size / self.batch_size))

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = self.data.prepare(x, None) if self.data.prepare else x.float()
        return (
            x.contiguous(memory_format=torch.channels_last)
            if self.device.type == "cuda" and x.dim() == 4
            else x
        )

    def train(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.data.in_memory:
            order = torch.randperm(len(self.train_x), generator=self.cpu_gen).to(self.device)
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                yield self._augment(self._prepare(self.train_x[idx])), self.train_y[idx]
        else:
            for x, y in self._loader(self.data.train_dataset, shuffle=True):
                yield (
                    self._prepare(x.to(self.device, non_blocking=True)),
                    y.to(self.device, non_blocking=True),
                )

    def test(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.data.in_memory:
            for start in range(0, len(self.test_x), EVAL_BATCH):
                yield (
                    self._prepare(self.test_x[start : start + EVAL_BATCH]),
                    self.test_y[start : start + EVAL_BATCH],
                )
        else:
            for x, y in self._loader(self.data.test_dataset, shuffle=False):
                yield (
                    self._prepare(x.to(self.device, non_blocking=True)),
                    y.to(self.device, non_blocking=True),
                )

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return self.data.augment(x, self.dev_gen) if self.data.augment else x

    def _loader(self, dataset: Any, shuffle: bool) -> torch.utils.data.DataLoader[Any]:
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            generator=self.cpu_gen,
            drop_last=shuffle,
            persistent_workers=self.workers > 0,
        )


def _autocast(device: torch.device) -> Any:
    def ctx() -> Any:
        return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()

    return ctx


def _generated_sampler(data: TaskData, generator_path: Path | None, device: torch.device) -> Sampler:
    """Where XCL-GAN's extra inputs come from: the eye renderer for gaze, a trained class-conditional GAN
    otherwise."""
    if data.kind == "regression":
        from worker.training.data import synthetic_gaze

        def draw(n: int, gen: torch.Generator) -> torch.Tensor:
            images, _ = synthetic_gaze.sample_batch(n, gen)
            return images.to(device)
    else:
        from worker.training.generators import load_generator

        if generator_path is None:
            raise ValueError(
                "xcl-gan on a classification task needs method.generator_run (a finished generator run)"
            )
        gan = load_generator(generator_path, device)

        @torch.no_grad()
        def draw(n: int, gen: torch.Generator) -> torch.Tensor:
            return gan.sample_mixed(n, gen)

    return draw


def _offline_pool(
    path: Path,
    draw: Sampler,
    teachers: TeacherEnsemble,
    kind: str,
    params: dict[str, Any],
    seed: int,
    autocast: Any,
) -> OfflinePool:
    """Sample the generated set once, label it with the ensemble once, and store both (reused on resume)."""
    if path.exists():
        stored = torch.load(path, map_location="cpu", weights_only=False)
        device = next(teachers.parameters()).device
        return OfflinePool(stored["images"].to(device), tuple(t.to(device) for t in stored["targets"]))
    gen = torch.Generator().manual_seed(seed + 10_007)
    images, targets = [], []
    for start in range(0, params["offline_size"], 1024):
        batch = draw(min(1024, params["offline_size"] - start), gen)
        with autocast():
            if kind == "classification":
                targets.append((teachers.probs(batch, params["temperature"]),))
            else:
                targets.append(teachers.gaussian(batch))
        images.append(batch)
    pool = OfflinePool(
        torch.cat(images), tuple(torch.cat(parts).float() for parts in zip(*targets, strict=True))
    )
    torch.save({"images": pool.images.cpu(), "targets": [t.cpu() for t in pool.targets]}, path)
    return pool


def train(
    spec: RunSpec,
    hparams: dict[str, Any],
    workdir: Path,
    hooks: Hooks | None = None,
    device: str | None = None,
    progress: bool = False,
    teacher_paths: list[Path] | None = None,
    generator_path: Path | None = None,
) -> TrainResult:
    hooks = hooks or Hooks()
    dev = pick_device(device)
    workdir.mkdir(parents=True, exist_ok=True)
    seed_everything(spec.seed)
    data = load_task(spec, hparams)
    batches = Batches(
        data,
        dev,
        int(hparams["batch_size"]),
        spec.seed,
        int(hparams.get("workers", 4)),
        val_fraction=float(hparams.get("val_fraction", 0.0)),
        val_seed=int(hparams.get("val_seed", 0)),
    )
    if spec.method.name == "gan":
        from worker.training.gan_trainer import train_generator

        return train_generator(spec, hparams, workdir, hooks, batches, dev, progress)

    autocast = _autocast(dev)
    model = build_model(
        spec.model.name,
        num_outputs=_model_outputs(data, spec),
        width=spec.model.width,
        input_shape=data.input_shape,
        **spec.model.options,
    ).to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    params = hparams.get("method_params", {})
    teachers = TeacherEnsemble.from_checkpoints(list(teacher_paths), dev) if teacher_paths else None
    if teachers is not None:
        _check_teachers_saw_no_test_data(teachers, data)
    ctx = MethodContext(data.kind, data.num_outputs, params, batches.cpu_gen, teachers)
    if spec.method.name == "xcl-gan":
        draw = _generated_sampler(data, generator_path, dev)
        if params["mode"] == "offline":
            assert teachers is not None
            ctx.offline_pool = _offline_pool(
                workdir / "offline_pool.pt", draw, teachers, data.kind, params, spec.seed, autocast
            )
        else:
            ctx.sample_generated = draw
    method = build_method(spec.method.name, ctx)

    epochs = int(hparams["epochs"])
    optimizer = build_optimizer(model, hparams)
    scheduler = build_scheduler(optimizer, hparams, batches.steps_per_epoch)
    checkpoint_path = workdir / "checkpoint.pt"
    start_epoch, history = _resume(checkpoint_path, spec, model, optimizer, scheduler, batches)

    static: dict[str, float] = {"params": float(sum(p.numel() for p in model.parameters()))}
    static.update(_complexity(model, data.input_shape))
    teacher_out = None
    if teachers is not None:
        teacher_out = teacher_outputs(teachers, batches.test, data.kind, autocast)
        test_y = torch.cat([y for _, y in batches.test()])
        static.update(_score(teacher_out, test_y, data.kind, prefix="teacher_test"))
        static["teacher_members"] = float(len(teachers.members))

    started = time.perf_counter()
    epoch_iter: Any = range(start_epoch, epochs)
    if progress:
        from tqdm import tqdm

        epoch_iter = tqdm(
            epoch_iter, initial=start_epoch, total=epochs, desc=f"{spec.method.name} {spec.task}", unit="ep"
        )
    step = start_epoch * batches.steps_per_epoch
    for epoch in epoch_iter:
        model.train()
        t0 = time.perf_counter()
        loss_sum, correct, seen, entropy_sum, entropy_n = 0.0, 0.0, 0, 0.0, 0
        for xb, yb in batches.train():
            if step % CANCEL_CHECK_EVERY == 0 and hooks.should_stop():
                raise Cancelled(f"cancelled at epoch {epoch + 1}, step {step}")
            with autocast():
                out = method.step(model, xb, yb)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            loss_sum += out.loss.item() * len(yb)
            seen += len(yb)
            if data.kind == "classification":
                correct += (out.outputs.argmax(1) == yb).sum().item()
            if out.targets is not None:
                entropy_sum += normalized_entropy(out.targets).sum().item()
                entropy_n += len(out.targets)
        epoch_seconds = time.perf_counter() - t0
        outputs, test_y = collect(model, batches.test, autocast)
        metrics = {"train_loss": loss_sum / seen, **_score(outputs, test_y, data.kind)}
        if batches.val_x is not None:
            metrics.update(_score(*collect(model, batches.val, autocast), data.kind, prefix="val"))
        if data.kind == "classification":
            metrics["train_top1"] = 100.0 * correct / seen
        if entropy_n:
            metrics["h_hat"] = 100.0 * entropy_sum / entropy_n
        if teacher_out is not None:
            metrics["teacher_agreement"] = _agreement(outputs, teacher_out, data.kind)
        metrics.update(
            {
                "lr": optimizer.param_groups[0]["lr"],
                "epoch_seconds": epoch_seconds,
                "samples_per_s": seen / epoch_seconds,
            }
        )
        if epoch == start_epoch:
            metrics.update(static)
        history.append({"epoch": epoch + 1, **metrics})
        hooks.on_epoch_end(epoch + 1, metrics)
        if progress:
            primary = "test_top1" if data.kind == "classification" else "test_angular_error"
            epoch_iter.set_postfix(
                loss=f"{metrics['train_loss']:.3f}", **{primary: f"{metrics[primary]:.2f}"}
            )
        if (epoch + 1) % int(hparams.get("checkpoint_every", 1)) == 0 or epoch + 1 == epochs:
            _save_checkpoint(checkpoint_path, spec, model, optimizer, scheduler, batches, epoch + 1, history)

    model_path = workdir / "model.pt"
    torch.save(
        {
            "kind": "model",
            "model": model.state_dict(),
            "spec": spec.model_dump(mode="json"),
            "hparams": hparams,
            "num_outputs": _model_outputs(data, spec),
            "input_shape": list(data.input_shape),
            "data_info": data.info or {},
        },
        model_path,
    )
    final = {k: v for k, v in (history[-1] if history else {}).items() if k != "epoch"}
    final.update(static)
    final.update({"wall_time_s": time.perf_counter() - started, "peak_memory_mb": peak_memory_mb(dev)})
    return TrainResult(final_metrics=final, model_path=model_path, history=history)


def _check_teachers_saw_no_test_data(teachers: TeacherEnsemble, data: TaskData) -> None:
    """A teacher trained on the student's test persons would leak the test split into the student."""
    test_persons = set((data.info or {}).get("test_persons", []))
    for i, info in enumerate(teachers.data_infos):
        leaked = test_persons & set(info.get("train_persons", []))
        if leaked:
            raise ValueError(
                f"teacher {i} trained on persons {sorted(leaked)} that are held out for this student's test split; "
                "train teachers and students with the same split (set overrides.split_seed for all of them)"
            )


def _model_outputs(data: TaskData, spec: RunSpec) -> int:
    """Gaze heads predict (mu, log variance) unless the model is built without uncertainty."""
    if data.kind == "regression" and spec.model.options.get("uncertainty", True):
        return data.num_outputs + 1
    return data.num_outputs


def _score(outputs: torch.Tensor, y: torch.Tensor, kind: str, prefix: str = "test") -> dict[str, float]:
    if kind == "classification":
        return classification_metrics(outputs, y, prefix)
    return regression_metrics(outputs, y, prefix)


def _agreement(student: torch.Tensor, teacher: torch.Tensor, kind: str) -> float:
    """Classification: % of test samples where student and ensemble pick the same class. Gaze: the mean
    angle (degrees) between their predicted gaze directions."""
    if kind == "classification":
        return (student.argmax(1) == teacher.argmax(1)).float().mean().item() * 100
    from worker.training.data.gaze_geometry import angular_error_deg

    return float(angular_error_deg(student[:, :2], teacher[:, :2]).mean().item())


def _complexity(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, float]:
    try:
        from worker.training.models.complexity import measure
    except ImportError:
        return {}
    c = measure(model, input_shape)
    return {"macs": float(c.macs), "binary_macs": float(c.binary_macs)}


def _resume(path: Path, spec: RunSpec, model, optimizer, scheduler, batches: Batches) -> tuple[int, list]:  # type: ignore[no-untyped-def]
    if not path.exists():
        return 0, []
    state = torch.load(path, map_location=batches.device, weights_only=False)
    if state["spec"] != spec.model_dump(mode="json"):
        return 0, []
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    batches.cpu_gen.set_state(state["cpu_gen"])
    batches.dev_gen.set_state(state["dev_gen"])
    torch.set_rng_state(state["torch_rng"])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
    return state["epoch"], state["history"]


def _save_checkpoint(
    path: Path, spec: RunSpec, model, optimizer, scheduler, batches: Batches, epoch: int, history: list
) -> None:  # type: ignore[no-untyped-def]
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "spec": spec.model_dump(mode="json"),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "cpu_gen": batches.cpu_gen.get_state(),
            "dev_gen": batches.dev_gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": np.random.get_state(),
            "python_rng": random.getstate(),
            "epoch": epoch,
            "history": history,
        },
        tmp,
    )
    tmp.replace(path)
