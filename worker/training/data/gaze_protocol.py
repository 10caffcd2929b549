"""Person-level splits and TaskData assembly shared by `synthetic-gaze` and `mpiigaze`.

Gaze inputs are kept as uint8 [N, 1, 37, 60]: the eye image (as MPIIGaze stores it) with the head pose in an
extra row (see gaze_input); `prepare_gaze` maps them to floats, the image in [0, 1] as the eye renderer outputs,
so rendered XCL-GAN samples and real data can be mixed. No augmentation (the paper lists none for gaze). The
head pose (pitch, yaw) also goes to TaskData.train_aux/test_aux.

Protocols (hparams `protocol`):
- "paper" (default): 20 % of the persons (3 of 15) held out for testing, drawn per run seed, the rest trained
  on; the supplement's "3 randomly selected persons are held-out ... 12 persons for training", 3 seeds.
- "leave-one-out": one person held out, `holdout_person` (index or "pXX"; default run seed mod #persons, so
  seeds 0..14 walk the 15 folds of the original MPIIGaze protocol).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import torch

from worker.training.data import TaskData, gaze_input
from worker.training.data.common import subset_indices
from xclab.hparams import DataHparams, GazeProtocol
from xclab.spec import RunSpec

HOLDOUT_FRACTION = 0.2
PROTOCOLS: tuple[str, ...] = get_args(GazeProtocol)


@dataclass
class PersonSamples:
    images: torch.Tensor  # uint8 [n, 36, 60]
    gaze: torch.Tensor  # float32 [n, 2] (pitch, yaw) radians
    pose: torch.Tensor  # float32 [n, 2] head (pitch, yaw) radians


def split_persons(persons: list[str], spec: RunSpec, hp: DataHparams) -> tuple[list[str], list[str]]:
    """(training persons, held-out persons) for the run's protocol and split seed (default: the run seed);
    both sorted. A grid pins `split_seed` so its teachers never train on its students' held-out persons."""
    persons = sorted(persons)
    split_seed = spec.seed if hp.split_seed is None else hp.split_seed
    protocol = hp.protocol
    if protocol == "paper":
        n_hold = max(1, round(HOLDOUT_FRACTION * len(persons)))
        if len(persons) <= n_hold:
            raise ValueError(f"protocol 'paper' needs at least {n_hold + 1} persons, found {len(persons)}")
        # RandomState: a frozen stream, so a seed names the same split on every numpy version.
        order = np.random.RandomState(split_seed).permutation(len(persons))
        held = sorted(persons[i] for i in order[:n_hold])
    elif protocol in ("leave-one-out", "leave-one-person-out"):
        choice = hp.holdout_person
        if choice is None:
            held = [persons[split_seed % len(persons)]]
        elif isinstance(choice, str) and not choice.lstrip("-").isdigit():
            if choice not in persons:
                raise ValueError(f"holdout_person '{choice}' not among the persons {', '.join(persons)}")
            held = [choice]
        else:
            index = int(choice)
            if not 0 <= index < len(persons):
                raise ValueError(f"holdout_person={index} out of range 0..{len(persons) - 1}")
            held = [persons[index]]
    else:
        raise ValueError(f"unknown gaze protocol '{protocol}'; allowed: {', '.join(PROTOCOLS)}")
    return [p for p in persons if p not in held], held


def prepare_gaze(x: torch.Tensor, _generator: torch.Generator | None = None) -> torch.Tensor:
    """Stored gaze inputs -> model inputs (image in [0, 1], pose row in radians); float input (rendered
    samples) is already prepared."""
    return gaze_input.prepare(x)


def _stack(samples: dict[str, PersonSamples], persons: list[str]) -> tuple[torch.Tensor, ...]:
    parts = [samples[p] for p in persons]
    images = torch.cat([s.images for s in parts]).unsqueeze(1)
    gaze = torch.cat([s.gaze for s in parts]).float()
    pose = torch.cat([s.pose for s in parts]).float()
    return gaze_input.encode(images, pose).contiguous(), gaze, pose


def gaze_task(
    samples: dict[str, PersonSamples], spec: RunSpec, hp: DataHparams, info: dict[str, Any]
) -> TaskData:
    train_persons, test_persons = split_persons(list(samples), spec, hp)
    train_x, train_y, train_pose = _stack(samples, train_persons)
    test_x, test_y, test_pose = _stack(samples, test_persons)
    subset = subset_indices(len(train_x), spec, hp)
    if subset is not None:
        idx = torch.from_numpy(subset)
        train_x, train_y, train_pose = train_x[idx], train_y[idx], train_pose[idx]
    return TaskData(
        kind="regression",
        num_outputs=2,
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        prepare=prepare_gaze,
        augment=None,
        train_aux=train_pose,
        test_aux=test_pose,
        info={
            **info,
            "protocol": hp.protocol,
            "train_persons": train_persons,
            "test_persons": test_persons,
            "train_size": len(train_x),
            "test_size": len(test_x),
            "targets": "gaze (pitch, yaw) radians",
            "aux": "head pose (pitch, yaw) radians",
            "input": "eye image [0, 1] (rows 0-35) + head pose row (row 36, columns 0-1, radians)",
        },
    )
