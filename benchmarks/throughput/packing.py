"""Several small runs on one GPU at once, as a worker with concurrency > 1 runs them: K processes, each
training its own ResNet-18 with the engine's fastest ERM path; the packed figure is all their images over the
wall time from the first start to the last end."""

from __future__ import annotations

import time
from dataclasses import replace

import torch
import torch.multiprocessing as mp

from benchmarks.throughput.sizes import Sizes
from benchmarks.throughput.timing import Measurement


def _one_run(rank: int, device_name: str, sizes: Sizes, start: mp.Barrier, results: mp.Queue) -> None:  # type: ignore[name-defined]
    from benchmarks.throughput.engine import cifar_data, graphed_erm
    from worker.training.models import build_model

    torch.set_num_threads(1)
    device = torch.device(device_name)
    torch.manual_seed(rank)
    images = torch.randint(0, 256, (sizes.cifar_images, 3, 32, 32), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 100, (sizes.cifar_images,), device=device)
    model = build_model("resnet18-cifar", num_outputs=100, width=sizes.width, input_shape=(3, 32, 32)).to(
        device
    )
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    graphed_erm(
        model, cifar_data(images, labels), replace(sizes, steps=sizes.warmup), device
    )  # warm + capture
    start.wait()
    t0 = time.time()
    m = graphed_erm(model, cifar_data(images, labels), sizes, device)
    results.put((t0, time.time(), m.images_per_s * m.seconds))


def packed(k: int, sizes: Sizes, device: torch.device) -> Measurement:
    ctx = mp.get_context("spawn")
    start, results = ctx.Barrier(k), ctx.Queue()
    procs = [ctx.Process(target=_one_run, args=(r, str(device), sizes, start, results)) for r in range(k)]
    for p in procs:
        p.start()
    got = [results.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    begin, end = min(g[0] for g in got), max(g[1] for g in got)
    images = sum(g[2] for g in got)
    return Measurement(images / (end - begin), sizes.steps, end - begin, f"{k} processes, one GPU")
