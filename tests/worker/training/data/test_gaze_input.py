"""The gaze input layout: eye image plus a head-pose row, stored as uint8 and prepared on the fly."""

from __future__ import annotations

import math

import torch

from worker.training.data import gaze_input, load_task
from xclab.hparams import DataHparams
from xclab.spec import RunSpec


def test_stored_pose_round_trips_to_within_a_hundredth_of_a_degree() -> None:
    images = torch.randint(0, 256, (50, 1, 36, 60), dtype=torch.uint8)
    pose = (torch.rand(50, 2) - 0.5) * 2.4
    stored = gaze_input.encode(images, pose)
    assert stored.shape == (50, 1, 37, 60) and stored.dtype == torch.uint8
    x = gaze_input.prepare(stored)
    image, decoded = gaze_input.split(x)
    assert torch.equal(image, images.float() / 255)
    assert (decoded - pose).abs().max() < math.radians(0.01)
    assert torch.all(x[:, 0, 36, 2:] == 0)


def test_rendered_inputs_are_already_prepared() -> None:
    images, pose = torch.rand(3, 1, 36, 60), torch.randn(3, 2) * 0.3
    x = gaze_input.with_pose(images, pose)
    assert torch.equal(gaze_input.prepare(x), x)
    assert torch.equal(gaze_input.split(x)[1], pose)


def test_synthetic_gaze_task_carries_each_images_head_pose() -> None:
    spec = RunSpec(task="synthetic-gaze", model={"name": "lenet"}, seed=0)
    data = load_task(spec, DataHparams(num_persons=15, samples_per_person=4))
    assert data.input_shape == gaze_input.INPUT_SHAPE
    assert data.prepare is not None and data.train_x is not None and data.train_aux is not None
    _, pose = gaze_input.split(data.prepare(data.train_x, None))
    assert (pose - data.train_aux).abs().max() < 1e-3
