"""Gaze angles, 3-D directions and the angular-error metric (the MPIIGaze conventions).

Angles are (pitch, yaw) in radians in the normalised camera frame (x right, y down, z away from the camera).
A gaze towards the camera has z < 0; pitch > 0 looks up, yaw > 0 looks towards the camera's -x (image left).
These are the conversions of the MPIIGaze preprocessing used by most public code (hysts/pytorch_mpiigaze):
pitch = asin(-y), yaw = atan2(-x, -z), and back x = -cos(p) sin(y), y = -sin(p), z = -cos(p) cos(y).
"""

from __future__ import annotations

from typing import Literal

import torch

from worker.training.data import register_regression_error


def pitchyaw_to_vector(angles: torch.Tensor) -> torch.Tensor:
    """[..., 2] (pitch, yaw) -> [..., 3] unit direction."""
    pitch, yaw = angles[..., 0], angles[..., 1]
    cp = torch.cos(pitch)
    return torch.stack((-cp * torch.sin(yaw), -torch.sin(pitch), -cp * torch.cos(yaw)), dim=-1)


def vector_to_pitchyaw(vectors: torch.Tensor) -> torch.Tensor:
    """[..., 3] direction (any length) -> [..., 2] (pitch, yaw); the inverse of `pitchyaw_to_vector`."""
    v = vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    pitch = torch.asin((-v[..., 1]).clamp(-1.0, 1.0))
    yaw = torch.atan2(-v[..., 0], -v[..., 2])
    return torch.stack((pitch, yaw), dim=-1)


def rotation_matrix(rvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues: [..., 3] axis-angle rotation vectors -> [..., 3, 3] rotation matrices (as cv2.Rodrigues)."""
    theta = rvec.norm(dim=-1, keepdim=True)
    axis = rvec / theta.clamp_min(1e-12)
    kx, ky, kz = axis.unbind(-1)
    zero = torch.zeros_like(kx)
    k = torch.stack((zero, -kz, ky, kz, zero, -kx, -ky, kx, zero), dim=-1).reshape(*rvec.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rvec.dtype, device=rvec.device).expand_as(k)
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    return eye + s * k + (1 - c) * (k @ k)


def head_pose_to_pitchyaw(rvec: torch.Tensor) -> torch.Tensor:
    """MPIIGaze head pose (Rodrigues vector, [..., 3]) -> (pitch, yaw) of the head's z axis, [..., 2].

    Same as the common preprocessing: v = R[:, 2], pitch = asin(v_y), yaw = atan2(v_x, v_z)."""
    v = rotation_matrix(rvec)[..., :, 2]
    return torch.stack((torch.asin(v[..., 1].clamp(-1.0, 1.0)), torch.atan2(v[..., 0], v[..., 2])), dim=-1)


def angular_error_deg(
    pred: torch.Tensor, target: torch.Tensor, reduction: Literal["mean", "none"] = "mean"
) -> torch.Tensor:
    """Angle in degrees between predicted and true gaze, both [N, 2] (pitch, yaw) in radians.

    Returns the mean as a 0-d tensor (reduction="mean") or per-sample errors [N] (reduction="none"). Uses
    atan2(|a x b|, a . b), which stays exact near 0 degrees where acos of a rounded dot product does not."""
    if pred.shape[-1] != 2 or target.shape[-1] != 2:
        raise ValueError(
            f"angular_error_deg expects (pitch, yaw) pairs, got shapes {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    a = pitchyaw_to_vector(pred.float())
    b = pitchyaw_to_vector(target.float())
    # The cross product by separate products (no fused multiply-add), so a x a is exactly 0.
    ax, ay, az = a.unbind(-1)
    bx, by, bz = b.unbind(-1)
    cross = torch.stack((ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx), dim=-1)
    errors = torch.rad2deg(torch.atan2(cross.norm(dim=-1), (a * b).sum(-1)))
    return errors.mean() if reduction == "mean" else errors


@register_regression_error("gaze")
def gaze_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The catalog's gaze error metric (angular_error): per-sample angle in degrees."""
    return angular_error_deg(pred, target, reduction="none")
