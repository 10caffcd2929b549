"""The `synthetic-gaze` task: a fixed dataset of persons rendered by eye_renderer.py (cached per renderer
version and seed), and the renderer registered as XCL-GAN's eye-image sources (oracle and domain-gap).

Stands in for two things the paper uses but this project cannot ship: MPIIGaze itself (when the real data is
not on disk) and the SimGAN-style conditional generator that XCL-GAN samples eye images from for any gaze.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from worker.training.data import TaskData, gaze_input, register_input_generator, register_loader
from worker.training.data.eye_renderer import (
    DATASET_SEED,
    DEFAULT_PERSONS,
    DEFAULT_SAMPLES_PER_PERSON,
    EYE_PITCH,
    EYE_YAW,
    RENDER_CHUNK,
    RENDERER_VERSION,
    render,
    sample_batch,
    sample_people,
    uniform,
)
from worker.training.data.gaze_domains import GAP, ORACLE
from worker.training.data.gaze_protocol import PersonSamples, gaze_task
from xclab.hparams import DataHparams
from xclab.spec import RunSpec


@register_input_generator("eye-renderer")
def render_inputs(n: int, generator: torch.Generator) -> torch.Tensor:
    """Fresh eye images in [0, 1] (as `prepare_gaze` outputs) from the domain the synthetic-gaze dataset
    was rendered from: for XCL-GAN on synthetic-gaze an oracle generator (upper bound). Returned as gaze
    model inputs (the head pose in the extra row, see gaze_input)."""
    images, _, head = sample_batch(n, generator, return_head_pose=True, domain=ORACLE)
    return gaze_input.with_pose(images, head)


@register_input_generator("eye-renderer-gap")
def render_gap_inputs(n: int, generator: torch.Generator) -> torch.Tensor:
    """Fresh eye images from the renderer's domain-gap variant (gaze_domains.GAP): persons and lighting the
    dataset's test persons were never drawn from. XCL-GAN's default on gaze tasks."""
    images, _, head = sample_batch(n, generator, return_head_pose=True, domain=GAP)
    return gaze_input.with_pose(images, head)


def generate_dataset(
    num_persons: int = DEFAULT_PERSONS,
    samples_per_person: int = DEFAULT_SAMPLES_PER_PERSON,
    seed: int = DATASET_SEED,
) -> dict[str, torch.Tensor]:
    """The fixed synthetic set, rendered on CPU from `seed` (deterministic): images uint8 [P*M, 36, 60],
    gaze and head pose float32 [P*M, 2], person int64 [P*M]. Each person gets a habitual head pose (like a
    laptop placed their own way) around which head and eyes vary."""
    gen = torch.Generator().manual_seed(seed)
    people = sample_people(num_persons, gen)
    head_mean = torch.stack(
        [
            uniform(num_persons, (-0.25, 0.05), gen, gen.device),
            uniform(num_persons, (-0.2, 0.2), gen, gen.device),
        ],
        dim=1,
    )
    images, gazes, poses, persons = [], [], [], []
    for person in range(num_persons):
        for start in range(0, samples_per_person, RENDER_CHUNK):
            m = min(RENDER_CHUNK, samples_per_person - start)
            spread = torch.randn((m, 2), generator=gen) * torch.tensor([0.1, 0.12])
            head = (head_mean[person] + spread).clamp(torch.tensor([-0.6, -0.6]), torch.tensor([0.4, 0.6]))
            eye = torch.stack(
                [uniform(m, EYE_PITCH, gen, gen.device), uniform(m, EYE_YAW, gen, gen.device)], 1
            )
            gaze = head + eye
            who = torch.full((m,), person, dtype=torch.long)
            img = render(gaze, head, people.select(who), gen)
            images.append(img[:, 0].mul(255).round().to(torch.uint8))
            gazes.append(gaze)
            poses.append(head)
            persons.append(who)
    return {
        "images": torch.cat(images),
        "gaze": torch.cat(gazes).float(),
        "pose": torch.cat(poses).float(),
        "person": torch.cat(persons),
    }


def _cached_dataset(
    num_persons: int, samples_per_person: int, seed: int, cache_dir: str | None
) -> dict[str, Any]:
    if not cache_dir:
        return generate_dataset(num_persons, samples_per_person, seed)
    path = Path(cache_dir).expanduser() / (
        f"synthetic-gaze-r{RENDERER_VERSION}-s{seed}-p{num_persons}-m{samples_per_person}.pt"
    )
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    data = generate_dataset(num_persons, samples_per_person, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # atomic: concurrent runs never read half a file
    torch.save(data, tmp)
    os.replace(tmp, path)
    return data


@register_loader("synthetic-gaze")
def load_synthetic_gaze(spec: RunSpec, hp: DataHparams) -> TaskData:
    num_persons, per_person, seed = hp.num_persons, hp.samples_per_person, hp.dataset_seed
    data = _cached_dataset(num_persons, per_person, seed, hp.cache_dir)
    samples = {
        f"p{i:02d}": PersonSamples(
            images=data["images"][data["person"] == i],
            gaze=data["gaze"][data["person"] == i],
            pose=data["pose"][data["person"] == i],
        )
        for i in range(num_persons)
    }
    info = {
        "dataset": "synthetic-gaze",
        "renderer_version": RENDERER_VERSION,
        "dataset_seed": seed,
        "num_persons": num_persons,
        "samples_per_person": per_person,
    }
    return gaze_task(samples, spec, hp, info)
