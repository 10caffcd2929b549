"""`train()`: the run shared by `xclab train` and the Celery task. It wires the pieces: data and batches
(batches.py), the student, its teachers and method (methods/), epochs (loop.py), checkpoints (checkpoint.py),
and hands runs that train a generator to that method's trainer."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from worker.training import distributed
from worker.training.batches import Batches, global_batch_size
from worker.training.checkpoint import resume, save_checkpoint, save_model
from worker.training.data import TaskData, load_task
from worker.training.distributed import Rank
from worker.training.environment import configure, environment, watch_nondeterminism
from worker.training.evaluation import Scorer, collect, extra_test_metrics, teacher_metrics
from worker.training.hooks import CHECKPOINT_FILE, Cancelled, Hooks, TrainResult
from worker.training.loop import autocast_for, evaluate, train_one_epoch
from worker.training.methods import MethodContext, build_method, generator_trainer
from worker.training.metrics import peak_memory_mb
from worker.training.models import build_model
from worker.training.models.complexity import measure
from worker.training.schedules import build_optimizer, build_scheduler
from worker.training.streams import RunStreams, derive_seed
from worker.training.teachers import TeacherEnsemble
from xclab.catalog import METHODS, MODELS, TASKS, TaskInfo
from xclab.hparams import Hparams
from xclab.spec import RunSpec

# Epoch averages of one rank's slice, averaged over the ranks (the slices are of equal size but for the last batch).
RANK_MEAN_METRICS = ("train_loss", "train_top1", "transfer_ratio", "h_hat")

__all__ = ["Cancelled", "Hooks", "TrainResult", "pick_device", "seed_everything", "train"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(requested: str | None = None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train(
    spec: RunSpec,
    hparams: Hparams | dict[str, Any],
    workdir: Path,
    hooks: Hooks | None = None,
    device: str | None = None,
    progress: bool = False,
    teacher_paths: list[Path] | None = None,
    generator_path: Path | None = None,
    *,
    data_root: Path | None = None,
    cache_dir: Path | None = None,
    rank: Rank | None = None,
) -> TrainResult:
    """Train `spec` to its last epoch, resuming from `workdir`'s checkpoint if there is one. `hparams` is what
    resolve_hparams stored with the run; `data_root` / `cache_dir` are the worker's folders, used where the
    spec names none. A run with resources.gpus > 1 trains with DistributedDataParallel on CUDA (on CPU only when
    XCL_DDP_CPU_PROCESSES > 1; distributed.py); `rank` is set inside such a run."""
    hp = Hparams.model_validate(hparams) if isinstance(hparams, dict) else hparams
    stored = hp.model_dump(mode="json")  # as the run stored them: before the worker's folders fill in
    dev = pick_device(device)
    if rank is None and (world := distributed.world_size(spec.resources.gpus, dev)) > 1:
        folders = {"data_root": data_root, "cache_dir": cache_dir, "generator_path": generator_path}
        kwargs = {
            "spec": spec.model_dump(mode="json"),
            "hparams": stored,
            "workdir": str(workdir),
            "teacher_paths": [str(p) for p in teacher_paths or []],
            **{k: str(v) if v is not None else None for k, v in folders.items()},
        }
        return distributed.launch(
            world,
            dev,
            kwargs,
            lambda rank: train(
                spec,
                hp,
                workdir,
                hooks,
                device,
                progress,
                teacher_paths,
                generator_path,
                data_root=data_root,
                cache_dir=cache_dir,
                rank=rank,
            ),
        )
    if rank is not None:
        dev = distributed.rank_device(dev, rank)
        hooks = distributed.RankHooks(hooks or Hooks(), rank, dev)
    hp = hp.with_folders(data_root, cache_dir)
    hooks, task = hooks or Hooks(), TASKS[spec.task]
    workdir.mkdir(parents=True, exist_ok=True)
    flags = configure(hp, dev)
    seed_everything(spec.seed)
    data = load_task(spec, hp)
    env = environment(stored, data, dev, flags)
    if rank is not None:
        global_batch = global_batch_size(hp.batch_size, rank.world, data.in_memory)
        env["distributed"] = distributed.describe(rank, dev, global_batch)
    hooks.on_environment(env)
    guaranteed = flags["guaranteed"]
    with watch_nondeterminism(flags):
        result = _train(
            spec, hp, workdir, hooks, dev, task, data, progress, teacher_paths, generator_path, rank
        )
    if flags["guaranteed"] != guaranteed:
        hooks.on_environment(env)  # ops without a deterministic kernel ran: say so
    result.environment = env
    return result


def _train(
    spec: RunSpec,
    hp: Hparams,
    workdir: Path,
    hooks: Hooks,
    dev: torch.device,
    task: TaskInfo,
    data: TaskData,
    progress: bool,
    teacher_paths: list[Path] | None,
    generator_path: Path | None,
    rank: Rank | None = None,
) -> TrainResult:
    rank = rank or Rank(0, 1)
    streams = RunStreams(spec.seed, dev)
    shard = (rank.rank, rank.world)
    batches = Batches(data, dev, hp.batch_size, streams, hp.workers, hp.val_fraction, hp.val_seed, shard)
    if METHODS[spec.method.name].trains_generator:
        if rank.world > 1:
            raise ValueError(f"method {spec.method.name} trains a generator: set resources.gpus to 0 or 1")
        trainer = generator_trainer(spec.method.name)(hp.method_params)
        return trainer.train(spec, hp, workdir, hooks, batches, dev, progress)

    autocast, scorer = autocast_for(dev), Scorer(task)
    model, num_outputs = streams.build(lambda: _student(spec, task, data, dev))
    hooks.on_model_built(model)
    teachers = _teachers(teacher_paths, data, dev)
    ctx = MethodContext(task, data.num_outputs, hp.method_params, streams.mixing, dev, teachers, workdir)
    ctx.seed, ctx.autocast, ctx.generator_path = spec.seed, autocast, generator_path
    ctx.samples, ctx.pool_seed = streams.samples, derive_seed(spec.seed, "pool")
    method = build_method(spec.method.name, ctx)
    optimizer = build_optimizer(model, hp)
    scheduler = build_scheduler(optimizer, hp, batches.steps_per_epoch)
    checkpoint_path = workdir / CHECKPOINT_FILE
    start_epoch, history = resume(checkpoint_path, spec, model, optimizer, scheduler, batches)
    if rank.main:
        if start_epoch:
            hooks.on_resume(start_epoch)
        # A resumed run reports its checkpointed epochs again: the process that trained them may have died before
        # its metrics left (they are sent in the background), and a metric write is idempotent per (key, step).
        for past in history:
            hooks.on_epoch_end(int(past["epoch"]), {k: v for k, v in past.items() if k != "epoch"})
    static, teacher_out = _size_metrics(model, data.input_shape), None
    if teachers is not None and rank.main:
        ensemble, teacher_out = teacher_metrics(teachers, batches.test, scorer, autocast)
        static.update(ensemble)
    trained = model
    if rank.world > 1:  # after resume: the wrapper broadcasts rank 0's weights
        distributed.reseed_rank_streams(streams, rank)
        trained = distributed.wrap(model, dev)
        static.update(
            {"world_size": float(rank.world), "effective_batch_size": float(batches.global_batch_size)}
        )

    started, step = time.perf_counter(), start_epoch * batches.steps_per_epoch
    for epoch in _epochs(spec, task, start_epoch, hp.epochs, progress and rank.main, history):
        metrics, step = train_one_epoch(
            trained, method, optimizer, scheduler, batches, autocast, hooks, epoch, step
        )
        if rank.world > 1:
            distributed.mean_over_ranks(metrics, RANK_MEAN_METRICS, dev)
            metrics["samples_per_s"] *= rank.world
        if not rank.main:  # rank 0 alone evaluates, reports and checkpoints
            continue
        if (
            epoch + 1
        ) % hp.eval_every == 0 or epoch + 1 == hp.epochs:  # the last epoch always: reports read it
            metrics.update(evaluate(model, batches.test, scorer, autocast, teacher_out=teacher_out))
            if batches.has_val:
                metrics.update(evaluate(model, batches.val, scorer, autocast, prefix="val"))
        metrics["lr"] = optimizer.param_groups[0]["lr"]
        if epoch == 0:  # once, at step 1: a resumed run re-reports step 1 from its history
            metrics.update(static)
        history.append({"epoch": epoch + 1, **metrics})
        hooks.on_epoch_end(epoch + 1, metrics)
        if (epoch + 1) % hp.checkpoint_every == 0 or epoch + 1 == hp.epochs:
            save_checkpoint(checkpoint_path, spec, model, optimizer, scheduler, batches, epoch + 1, history)
            if epoch + 1 < hp.epochs:
                hooks.on_checkpoint(checkpoint_path, epoch + 1)

    if rank.world > 1:
        distributed.check_in_sync(model, dev)
    if not rank.main:
        return TrainResult(final_metrics={}, model_path=workdir / "model.pt")
    model_path = save_model(workdir / "model.pt", spec, model, hp, num_outputs, data)
    predictions_path = workdir / "predictions_test.json"
    predictions_path.write_text(json.dumps(scorer.per_sample(*collect(model, batches.test, autocast))))
    final = {k: v for k, v in (history[-1] if history else {}).items() if k != "epoch"}
    final.update(extra_test_metrics(model, data.extra_test_datasets, batches.over, scorer, autocast))
    final.update(
        {**static, "wall_time_s": time.perf_counter() - started, "peak_memory_mb": peak_memory_mb(dev)}
    )
    return TrainResult(
        final_metrics=final, model_path=model_path, history=history, predictions_path=predictions_path
    )


def _student(spec: RunSpec, task: TaskInfo, data: TaskData, device: torch.device) -> tuple[nn.Module, int]:
    """The student and its output count: a regression head adds a log variance unless its options say not."""
    options = MODELS[spec.model.name].options_model.model_validate(spec.model.options)
    outputs = data.num_outputs + 1 if task.regression and options.adds_variance_output() else data.num_outputs
    model = build_model(
        spec.model.name,
        num_outputs=outputs,
        width=spec.model.width,
        input_shape=data.input_shape,
        **options.model_dump(),
    ).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model, outputs


def _teachers(paths: list[Path] | None, data: TaskData, device: torch.device) -> TeacherEnsemble | None:
    if not paths:
        return None
    teachers = TeacherEnsemble.from_checkpoints(list(paths), device)
    # A teacher trained on the student's test persons would leak the test split into the student.
    test_persons = set((data.info or {}).get("test_persons", []))
    for i, info in enumerate(teachers.data_infos):
        leaked = test_persons & set(info.get("train_persons", []))
        if leaked:
            raise ValueError(
                f"teacher {i} trained on persons {sorted(leaked)} that are held out for this student's test split; "
                "train teachers and students with the same split (set overrides.split_seed for all of them)"
            )
    return teachers


def _size_metrics(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, float]:
    c = measure(model, input_shape)
    return {
        "params": float(sum(p.numel() for p in model.parameters())),
        "macs": float(c.macs),
        "binary_macs": float(c.binary_macs),
    }


def _epochs(
    spec: RunSpec, task: TaskInfo, start: int, total: int, progress: bool, history: list[dict[str, float]]
) -> Iterator[int]:
    """The remaining epochs; with `progress`, under a tqdm bar showing the loss and the task's primary metric."""
    if not progress:
        yield from range(start, total)
        return
    from tqdm import tqdm

    key = task.primary_metric.key
    bar = tqdm(
        range(start, total), initial=start, total=total, desc=f"{spec.method.name} {spec.task}", unit="ep"
    )
    for epoch in bar:
        yield epoch
        shown = {key: f"{history[-1][key]:.2f}"} if key in history[-1] else {}  # epochs without evaluation
        bar.set_postfix(loss=f"{history[-1]['train_loss']:.3f}", **shown)
