"""MPIIGaze models (App. A.1): a 4-layer LeNet student and a 9-layer PreAct-ResNet teacher.

Both take the gaze task's input, a 1x36x60 normalised grayscale eye image with the head pose (pitch, yaw) in
one extra row (worker.training.data.gaze_input), and regress the 2-D gaze (pitch, yaw). With `head_pose=True`
(default) the pose is concatenated to the features before the last layer, as in MPIIGaze's LeNet (Zhang et
al. 2015); with False the pose row is dropped and the model sees the image only. Plain 1x36x60 images
(no pose row) are accepted with head_pose=False.

Uncertainty head: with `uncertainty=True` (default) the caller passes num_outputs=3 and the output is
[mu_pitch, mu_yaw, log sigma^2], the mean and log-variance of an isotropic Gaussian N(mu, sigma^2 I) over
the gaze; the paper writes the covariance as "sigma I" and leaves the parameterisation open, so this
package fixes it as the log of the per-coordinate variance (unconstrained, so any real output is valid).
With `uncertainty=False` the caller passes num_outputs=2 and the output is the gaze alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worker.training.data import gaze_input
from worker.training.models import register_model
from worker.training.models.common import check_bool, check_image_shape, check_width, scale_channels

GAZE_DIMS = 2  # output[:, :2] is the mean, output[:, 2] the log variance (worker.training.losses)
POSE_DIMS = 2


def _image_shape(model: str, input_shape: tuple[int, ...], head_pose: bool) -> tuple[tuple[int, ...], bool]:
    """(the image's shape, whether the input carries a pose row)."""
    input_shape = tuple(input_shape)
    if input_shape == gaze_input.INPUT_SHAPE:
        return (1, gaze_input.IMAGE_ROWS, gaze_input.IMAGE_COLS), True
    if head_pose:
        raise ValueError(
            f"{model}: head_pose=True needs the gaze input {gaze_input.INPUT_SHAPE} (image + pose row), got "
            f"{input_shape}; set head_pose false for image-only inputs"
        )
    return input_shape, False


class PoseInput(nn.Module):
    """Splits a gaze input into (image, pose or None): the pose only where the model uses it."""

    def __init__(self, has_pose_row: bool, head_pose: bool) -> None:
        super().__init__()
        self.has_pose_row, self.head_pose = has_pose_row, head_pose

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not self.has_pose_row:
            return x, None
        image, pose = gaze_input.split(x)
        return image, pose if self.head_pose else None


def _check_head(model: str, num_outputs: int, uncertainty: bool) -> None:
    # A mismatch would silently train e.g. a 1-D mean + variance, so refuse it at build time.
    if uncertainty and num_outputs != GAZE_DIMS + 1:
        raise ValueError(
            f"{model}: uncertainty=True needs num_outputs=3 (2-D mean + log sigma^2), got {num_outputs}"
        )
    if num_outputs < 1:
        raise ValueError(f"{model}: num_outputs must be >= 1, got {num_outputs}")


class LeNet(nn.Module):
    """conv5x5(20) -> maxpool2 -> conv5x5(50) -> maxpool2 -> fc(500) -> ReLU -> fc(out).

    The layout of Zhang et al.'s MPIIGaze LeNet as ported by hysts/pytorch_mpiigaze, which has no ReLU
    after the convs (Caffe's LeNet); `conv_relu=True` adds them. Width scales 20/50/500. With head_pose the
    pose joins the fc(500) features before the last layer: fc(500 + 2 -> out), as in that port.
    """

    def __init__(
        self,
        num_outputs: int,
        width: float = 1.0,
        input_shape: tuple[int, ...] = gaze_input.INPUT_SHAPE,
        conv_relu: bool = False,
        head_pose: bool = True,
    ) -> None:
        super().__init__()
        check_width(width)
        image_shape, has_pose_row = _image_shape("lenet", input_shape, head_pose)
        self.inputs = PoseInput(has_pose_row, head_pose)
        c, h, w = check_image_shape(image_shape, "lenet")
        fh, fw = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
        if fh < 1 or fw < 1:
            raise ValueError(f"lenet: input {input_shape} is too small for two 5x5 conv + 2x2 pool stages")
        c1, c2, hidden = (scale_channels(b, width) for b in (20, 50, 500))
        self.conv_relu = conv_relu
        self.conv1 = nn.Conv2d(c, c1, 5)
        self.conv2 = nn.Conv2d(c1, c2, 5)
        self.fc1 = nn.Linear(c2 * fh * fw, hidden)
        self.fc2 = nn.Linear(hidden + (POSE_DIMS if head_pose else 0), num_outputs)
        # The Caffe-derived init of the hysts port, which the supplement says it followed.
        nn.init.normal_(self.conv1.weight, std=0.1)
        nn.init.normal_(self.conv2.weight, std=0.01)
        for m in (self.conv1, self.conv2, self.fc1, self.fc2):
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, pose = self.inputs(x)
        for conv in (self.conv1, self.conv2):
            x = conv(x)
            x = F.max_pool2d(F.relu(x) if self.conv_relu else x, 2)
        features = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(features if pose is None else torch.cat([features, pose], 1))


class PreActBlock(nn.Module):
    """BN-ReLU-conv-BN-ReLU-conv with the shortcut taken after the first BN-ReLU where it projects."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.shortcut = (
            nn.Conv2d(cin, cout, 1, stride=stride, bias=False) if stride != 1 or cin != cout else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv2(F.relu(self.bn2(self.conv1(out))))
        return out + skip


class PreActResNet9(nn.Module):
    """3x3 stem + one pre-activation basic block in each of 4 stages (64-128-256-512 x width, strides
    1-2-2-2): 9 conv layers on the main path, then BN-ReLU, global average pool and a linear head.

    The supplement only says "9-layer PreAct-ResNet"; this is the PreAct-ResNet-18 family of the MixUp
    paper with one block per stage (the 1x1 projection shortcuts are not counted as layers).
    """

    def __init__(
        self,
        num_outputs: int,
        width: float = 1.0,
        input_shape: tuple[int, ...] = gaze_input.INPUT_SHAPE,
        head_pose: bool = True,
    ) -> None:
        super().__init__()
        check_width(width)
        image_shape, has_pose_row = _image_shape("preact-resnet9", input_shape, head_pose)
        self.inputs = PoseInput(has_pose_row, head_pose)
        in_channels, _, _ = check_image_shape(image_shape, "preact-resnet9")
        channels = [scale_channels(c, width) for c in (64, 128, 256, 512)]
        self.stem = nn.Conv2d(in_channels, channels[0], 3, padding=1, bias=False)
        blocks, cin = [], channels[0]
        for i, cout in enumerate(channels):
            blocks.append(PreActBlock(cin, cout, 1 if i == 0 else 2))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)  # pre-activation nets need a final BN-ReLU before pooling
        self.fc = nn.Linear(cin + (POSE_DIMS if head_pose else 0), num_outputs)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, pose = self.inputs(x)
        x = F.relu(self.bn(self.blocks(self.stem(x))))
        features = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(features if pose is None else torch.cat([features, pose], 1))


@register_model("lenet")
def lenet(
    *,
    num_outputs: int,
    width: float,
    input_shape: tuple[int, ...],
    uncertainty: bool = True,
    conv_relu: bool = False,
    head_pose: bool = True,
) -> nn.Module:
    """Gaze student. Options: `uncertainty` (default True: num_outputs must be 3, the last output is
    log sigma^2 of an isotropic Gaussian over the 2-D gaze), `conv_relu` (ReLU after the convs),
    `head_pose` (default True: the pose joins the features before the last layer)."""
    _check_head("lenet", num_outputs, check_bool("lenet", "uncertainty", uncertainty))
    return LeNet(
        num_outputs,
        width,
        tuple(input_shape),
        conv_relu=check_bool("lenet", "conv_relu", conv_relu),
        head_pose=check_bool("lenet", "head_pose", head_pose),
    )


@register_model("preact-resnet9")
def preact_resnet9(
    *,
    num_outputs: int,
    width: float,
    input_shape: tuple[int, ...],
    uncertainty: bool = True,
    head_pose: bool = True,
) -> nn.Module:
    """Gaze teacher. Options `uncertainty` and `head_pose` as for lenet (the pose joins the pooled
    features before the linear head)."""
    _check_head("preact-resnet9", num_outputs, check_bool("preact-resnet9", "uncertainty", uncertainty))
    head_pose = check_bool("preact-resnet9", "head_pose", head_pose)
    return PreActResNet9(num_outputs, width, tuple(input_shape), head_pose=head_pose)
