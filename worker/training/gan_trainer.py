"""Training loop of a `generator` run: the class-conditional GAN that XCL-GAN samples from."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from worker.training.generators import (
    ConditionalGenerator,
    ProjectionDiscriminator,
    generator_config,
    train_gan_epoch,
)
from worker.training.metrics import peak_memory_mb
from xclab.spec import RunSpec


def train_generator(
    spec: RunSpec,
    hparams: dict[str, Any],
    workdir: Path,
    hooks: Any,
    batches: Any,
    device: torch.device,
    progress: bool,
) -> Any:
    from worker.training.trainer import TrainResult

    data = batches.data
    if data.kind != "classification" or not data.in_memory:
        raise ValueError(f"a generator run needs an in-memory classification task; '{spec.task}' is not one")
    x = torch.cat(
        [batches._prepare(batches.train_x[i : i + 1024]) for i in range(0, len(batches.train_x), 1024)]
    )
    y = batches.train_y
    params = hparams.get("method_params", {})
    gen = ConditionalGenerator(
        data.num_outputs,
        tuple(x.shape[1:]),
        params.get("latent_dim", 32),
        spec.model.width,
        out_scale=float(x.abs().max()),
    ).to(device)
    disc = ProjectionDiscriminator(data.num_outputs, tuple(x.shape[1:]), spec.model.width).to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=hparams["lr"], betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=hparams["lr"], betas=(0.5, 0.999))
    started, history = time.perf_counter(), []
    epochs = range(int(hparams["epochs"]))
    if progress:
        from tqdm import tqdm

        epochs = tqdm(epochs, desc=f"gan {spec.task}", unit="ep")
    for epoch in epochs:
        t0 = time.perf_counter()
        metrics = train_gan_epoch(
            gen, disc, opt_g, opt_d, x, y, int(hparams["batch_size"]), batches.cpu_gen, hooks.should_stop
        )
        metrics.update(
            {"epoch_seconds": time.perf_counter() - t0, "samples_per_s": len(x) / (time.perf_counter() - t0)}
        )
        history.append({"epoch": epoch + 1, **metrics})
        hooks.on_epoch_end(epoch + 1, metrics)
    model_path = workdir / "model.pt"
    torch.save(
        {
            "kind": "generator",
            "generator": gen.state_dict(),
            "generator_config": generator_config(gen),
            "spec": spec.model_dump(mode="json"),
            "hparams": hparams,
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
