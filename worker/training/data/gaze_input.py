"""The gaze model input: the 36x60 eye image with the head pose carried in one extra row below it.

MPIIGaze's LeNet concatenates the head pose (pitch, yaw) to its features before the last layer. The engine
passes one input tensor per sample through batching, mixing, generated transfer sets, teachers and
evaluation, so the pose travels inside that tensor instead of beside it: [N, 1, 37, 60], rows 0..35 the
image, row 36 the pose. MixUp mixes the pose with the pixels (as it mixes every input); CutMix would paste
boxes into the pose row, so gaze grids mix with MixUp.

Stored inputs (uint8, as MPIIGaze keeps images) encode each angle in row 36 as a 16-bit number in two
bytes (resolution 0.005 degrees); `prepare` turns them into model inputs: image / 255 and the pose in
radians at row 36, columns 0 (pitch) and 1 (yaw), zeros elsewhere. Rendered samples are built in that
prepared layout directly (`with_pose`).
"""

from __future__ import annotations

import math

import torch

IMAGE_ROWS, IMAGE_COLS = 36, 60
INPUT_SHAPE = (1, IMAGE_ROWS + 1, IMAGE_COLS)
_SCALE = 65535 / (2 * math.pi)  # radians in [-pi, pi] -> 0..65535


def encode(images: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """uint8 images [N, 1, 36, 60] and pose [N, 2] radians -> stored uint8 inputs [N, 1, 37, 60]."""
    code = ((pose.double().clamp(-math.pi, math.pi) + math.pi) * _SCALE).round().long()
    row = torch.zeros((len(images), IMAGE_COLS), dtype=torch.uint8)
    for k in range(2):
        row[:, 2 * k] = (code[:, k] >> 8).to(torch.uint8)
        row[:, 2 * k + 1] = (code[:, k] & 0xFF).to(torch.uint8)
    return torch.cat([images, row.view(-1, 1, 1, IMAGE_COLS)], dim=2)


def decode_pose(row: torch.Tensor) -> torch.Tensor:
    """The pose [N, 2] radians from stored pose rows [N, 60] (uint8)."""
    b = row[:, :4].long()
    code = torch.stack([b[:, 0] * 256 + b[:, 1], b[:, 2] * 256 + b[:, 3]], 1)
    return code.float() / _SCALE - math.pi


def with_pose(images: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """Float images [N, 1, 36, 60] in [0, 1] and pose [N, 2] -> model inputs [N, 1, 37, 60]."""
    row = torch.zeros((len(images), 1, 1, IMAGE_COLS), dtype=images.dtype, device=images.device)
    row[:, 0, 0, :2] = pose.to(images)
    return torch.cat([images, row], dim=2)


def prepare(x: torch.Tensor, _generator: torch.Generator | None = None) -> torch.Tensor:
    """Stored inputs -> model inputs; float input (rendered samples) is already prepared."""
    if x.dtype != torch.uint8:
        return x.float()
    images = x[:, :, :IMAGE_ROWS].float().div_(255.0)
    return with_pose(images, decode_pose(x[:, 0, IMAGE_ROWS]).to(images.device))


def split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Model inputs -> (images [N, 1, 36, 60], pose [N, 2])."""
    return x[:, :, :IMAGE_ROWS], x[:, 0, IMAGE_ROWS, :2]
