from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from worker.training.data.gaze_geometry import (
    angular_error_deg,
    head_pose_to_pitchyaw,
    pitchyaw_to_vector,
    rotation_matrix,
    vector_to_pitchyaw,
)


def test_identical_inputs_give_exactly_zero() -> None:
    angles = torch.tensor([[0.0, 0.0], [-0.3, 0.4], [0.2, -0.7], [-0.6, 0.05]])
    assert angular_error_deg(angles, angles).item() == 0.0
    assert torch.equal(angular_error_deg(angles, angles, reduction="none"), torch.zeros(4))


def test_known_pairs_match_hand_computed_angles() -> None:
    # Pure yaw difference: the angle is the yaw difference itself.
    assert angular_error_deg(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 0.1]])).item() == pytest.approx(
        math.degrees(0.1), abs=1e-4
    )
    # (0.1, 0) vs (0, 0.1): a = (0, -sin .1, -cos .1), b = (-sin .1, 0, -cos .1), a.b = cos^2(0.1).
    expected = math.degrees(math.acos(math.cos(0.1) ** 2))
    got = angular_error_deg(torch.tensor([[0.1, 0.0]]), torch.tensor([[0.0, 0.1]]))
    assert got.item() == pytest.approx(expected, abs=1e-4)
    # Mean over a batch.
    pred = torch.tensor([[0.0, 0.0], [0.1, 0.0]])
    target = torch.tensor([[0.0, 0.1], [0.0, 0.1]])
    assert angular_error_deg(pred, target).item() == pytest.approx(
        (math.degrees(0.1) + expected) / 2, abs=1e-4
    )


def test_vector_convention_and_round_trip() -> None:
    # Looking straight into the camera is -z; pitch > 0 is up (-y); yaw > 0 is towards -x.
    assert torch.allclose(pitchyaw_to_vector(torch.tensor([0.0, 0.0])), torch.tensor([0.0, 0.0, -1.0]))
    assert pitchyaw_to_vector(torch.tensor([0.3, 0.0]))[1] < 0
    assert pitchyaw_to_vector(torch.tensor([0.0, 0.3]))[0] < 0
    angles = torch.tensor([[-0.5, 0.7], [0.3, -0.2], [0.0, 0.0]])
    assert torch.allclose(vector_to_pitchyaw(pitchyaw_to_vector(angles) * 3.0), angles, atol=1e-6)


def test_shape_mismatch_is_rejected() -> None:
    with pytest.raises(ValueError, match="pitch, yaw"):
        angular_error_deg(torch.zeros(4, 3), torch.zeros(4, 2))


def test_rodrigues_and_head_pose_match_scipy() -> None:
    rvecs = np.random.RandomState(0).normal(scale=0.5, size=(16, 3))
    expected_r = Rotation.from_rotvec(rvecs).as_matrix()
    assert np.allclose(rotation_matrix(torch.from_numpy(rvecs)).numpy(), expected_r, atol=1e-10)
    z = expected_r[:, :, 2]
    expected = np.stack([np.arcsin(z[:, 1]), np.arctan2(z[:, 0], z[:, 2])], 1)
    assert np.allclose(head_pose_to_pitchyaw(torch.from_numpy(rvecs)).numpy(), expected, atol=1e-10)
    # A rotation about the camera's y axis by a is a pure head yaw of a.
    assert torch.allclose(head_pose_to_pitchyaw(torch.tensor([0.0, 0.3, 0.0])), torch.tensor([0.0, 0.3]))
    assert torch.allclose(head_pose_to_pitchyaw(torch.zeros(3)), torch.zeros(2))
