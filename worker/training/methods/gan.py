"""The `gan` method: a run that trains the class-conditional GAN (hinge loss, projection discriminator) that
XCL-GAN later samples, instead of a student."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from worker.training.batches import Batches
from worker.training.generators import ConditionalGenerator, ProjectionDiscriminator, generator_config
from worker.training.hooks import CANCEL_CHECK_EVERY, CHECKPOINT_FILE, Cancelled, Hooks, TrainResult
from worker.training.media import class_grid_labels, sample_epochs
from worker.training.methods import register_generator_trainer
from worker.training.methods.base import GeneratorTrainer
from worker.training.metrics import peak_memory_mb
from worker.training.safe_load import load_checkpoint
from worker.training.streams import RunStreams
from xclab.catalog.methods import GANParams
from xclab.hparams import Hparams
from xclab.spec import RunSpec


@register_generator_trainer("gan")
class ConditionalGAN(GeneratorTrainer[GANParams]):
    params_model = GANParams
    models = ("cgan",)

    def train(
        self,
        spec: RunSpec,
        hp: Hparams,
        workdir: Path,
        hooks: Hooks,
        batches: Batches,
        device: torch.device,
        progress: bool,
    ) -> TrainResult:
        data = batches.data
        if data.kind != "classification" or not data.in_memory:
            raise ValueError(
                f"a generator run needs an in-memory classification task; '{spec.task}' is not one"
            )
        x = torch.cat(
            [batches.prepare(batches.train_x[i : i + 1024]) for i in range(0, len(batches.train_x), 1024)]
        )
        y = batches.train_y
        shape = tuple(x.shape[1:])
        gen, disc = batches.streams.build(
            lambda: (
                ConditionalGenerator(
                    data.num_outputs,
                    shape,
                    self.p.latent_dim,
                    spec.model.width,
                    out_scale=float(x.abs().max()),
                ).to(device),
                ProjectionDiscriminator(data.num_outputs, shape, spec.model.width).to(device),
            )
        )
        hooks.on_model_built(gen)
        opt_g = torch.optim.Adam(gen.parameters(), lr=hp.lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=hp.lr, betas=(0.5, 0.999))
        checkpoint = workdir / CHECKPOINT_FILE
        models = {"generator": gen, "discriminator": disc, "opt_g": opt_g, "opt_d": opt_d}
        started = time.perf_counter()
        start_epoch, history = _resume(checkpoint, spec, models, batches.streams, device)
        if start_epoch:
            hooks.on_resume(start_epoch)
            for past in history:  # re-reported: the process that trained them may have died before sending
                hooks.on_epoch_end(int(past["epoch"]), {k: v for k, v in past.items() if k != "epoch"})
        shown, grid_labels = sample_epochs(hp.epochs), class_grid_labels(data.num_outputs).to(device)
        epochs: Any = range(start_epoch, hp.epochs)
        if progress:
            from tqdm import tqdm

            epochs = tqdm(epochs, desc=f"{self.name} {spec.task}", unit="ep")
        for epoch in epochs:
            t0 = time.perf_counter()
            metrics = train_gan_epoch(
                gen, disc, opt_g, opt_d, x, y, hp.batch_size, batches.streams, hooks.should_stop
            )
            metrics.update(
                {
                    "epoch_seconds": time.perf_counter() - t0,
                    "samples_per_s": len(x) / (time.perf_counter() - t0),
                }
            )
            history.append({"epoch": epoch + 1, **metrics})
            hooks.on_epoch_end(epoch + 1, metrics)
            if epoch + 1 in shown:
                hooks.on_samples(epoch + 1, fixed_samples(gen, grid_labels))
            if (epoch + 1) % hp.checkpoint_every == 0 and epoch + 1 < hp.epochs:
                _save(checkpoint, spec, models, batches.streams, epoch + 1, history)
                hooks.on_checkpoint(checkpoint, epoch + 1)
        model_path = workdir / "model.pt"
        torch.save(
            {
                "kind": "generator",
                "generator": gen.state_dict(),
                "generator_config": generator_config(gen),
                "spec": spec.model_dump(mode="json"),
                "hparams": hp.model_dump(mode="json"),
            },
            model_path,
        )
        final = {k: v for k, v in history[-1].items() if k != "epoch"}
        final.update(
            {
                "params": float(sum(p.numel() for p in gen.parameters())),
                "wall_time_s": time.perf_counter() - started,
                "peak_memory_mb": peak_memory_mb(device),
            }
        )
        return TrainResult(final_metrics=final, model_path=model_path, history=history)


def _save(
    path: Path, spec: RunSpec, models: dict[str, Any], streams: RunStreams, epoch: int, history: list
) -> None:
    tmp = path.with_suffix(".tmp")
    state = {name: m.state_dict() for name, m in models.items()}
    torch.save(
        {"kind": "gan-resume", "spec": spec.model_dump(mode="json"), "streams": streams.state(), **state}
        | {"epoch": epoch, "history": history},
        tmp,
    )
    tmp.replace(path)  # atomic: a crash never leaves half a checkpoint


def _resume(
    path: Path, spec: RunSpec, models: dict[str, Any], streams: RunStreams, device: torch.device
) -> tuple[int, list[dict[str, float]]]:
    """(epochs done, history) from a generator run's checkpoint of this spec, restoring networks, optimisers
    and random streams; (0, []) when there is none."""
    if not path.exists():
        return 0, []
    state = load_checkpoint(path, device)
    if state.get("kind") != "gan-resume" or state["spec"] != spec.model_dump(mode="json"):
        return 0, []
    for name, m in models.items():
        m.load_state_dict(state[name])
    streams.set_state(state["streams"])
    return state["epoch"], state["history"]


def fixed_samples(gen: ConditionalGenerator, labels: torch.Tensor) -> torch.Tensor:
    """Samples from the same noise every epoch (a generator of their own: the run's streams are untouched),
    in eval mode so BatchNorm's running statistics do not move."""
    was_training = gen.training
    gen.eval()
    try:
        with torch.no_grad():
            return gen.sample_classes(labels, torch.Generator().manual_seed(0))
    finally:
        gen.train(was_training)


def train_gan_epoch(
    gen: ConditionalGenerator,
    disc: ProjectionDiscriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    streams: RunStreams,
    should_stop: Callable[[], bool],
) -> dict[str, float]:
    """One epoch of hinge-loss GAN training over (x, y) held on the device."""
    gen.train()
    disc.train()
    order = torch.randperm(len(x), generator=streams.data).to(x.device)
    d_sum = g_sum = 0.0
    steps = 0
    for start in range(0, len(order), batch_size):
        if steps % CANCEL_CHECK_EVERY == 0 and should_stop():
            raise Cancelled("cancelled during generator training")
        idx = order[start : start + batch_size]
        real, labels = x[idx], y[idx]
        fake = gen.sample_classes(labels, streams.samples)
        d_loss = F.relu(1 - disc(real, labels)).mean() + F.relu(1 + disc(fake.detach(), labels)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = -disc(gen.sample_classes(labels, streams.samples), labels).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d_sum, g_sum, steps = d_sum + d_loss.item(), g_sum + g_loss.item(), steps + 1
    return {"gan_d_loss": d_sum / steps, "gan_g_loss": g_sum / steps}
