"""Models and their options. A new one is an entry here plus a builder registered in `worker/training/models/`
whose keyword options match its options model (a test pins the two)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from xclab.catalog.info import ModelInfo, ModelOptions

GAZE_TASKS = ("synthetic-gaze", "mpiigaze")
CIFAR = ("cifar100",)


class SmallCNNOptions(ModelOptions):
    binary: bool = Field(default=False, description="1-bit weights in the two inner convs.")


class GazeHeadOptions(ModelOptions):
    uncertainty: bool = Field(
        default=True, description="Predict a log variance after the 2-D gaze (Gaussian output)."
    )

    head_pose: bool = Field(
        default=True,
        description="Concatenate the head pose (pitch, yaw) to the features before the last layer (MPIIGaze's "
        "LeNet); false: image only.",
    )

    def adds_variance_output(self) -> bool:
        return self.uncertainty


class LeNetOptions(GazeHeadOptions):
    conv_relu: bool = Field(default=False, description="ReLU after the convolutions.")


class PyramidNetOptions(ModelOptions):
    depth: int = Field(default=200, ge=8, le=1000, description="9n+2 (bottleneck) or 6n+2 (basic).")
    alpha: float = Field(default=240.0, ge=0, description="Total channel widening over the network.")
    bottleneck: bool | None = Field(
        default=None, description="Bottleneck blocks; default: for depth >= 164 or a depth only 9n+2 fits."
    )


class BinaryResNetOptions(ModelOptions):
    block: Literal["xnor", "basic"] = Field(
        default="xnor", description="XNOR block with double shortcut, or the basic block made 1-bit."
    )
    ste_clip: float | None = Field(
        default=1.0,
        gt=0,
        description="Zero the straight-through gradient where |w| exceeds it (null: never).",
    )


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        ModelInfo(
            "small-cnn",
            ("digits",),
            "Three-layer CNN for 8x8 digits; width scales every layer; option binary=true makes the middle convs 1-bit.",
            options_model=SmallCNNOptions,
        ),
        ModelInfo(
            "lenet",
            GAZE_TASKS,
            "4-layer LeNet gaze student; option uncertainty (default true) adds a variance output.",
            options_model=LeNetOptions,
        ),
        ModelInfo(
            "preact-resnet9",
            GAZE_TASKS,
            "9-layer PreAct-ResNet gaze teacher; option uncertainty as for lenet.",
            options_model=GazeHeadOptions,
        ),
        ModelInfo("resnet18-cifar", CIFAR, "ResNet-18 for 32x32 inputs (3x3 stem, no max-pool)."),
        ModelInfo(
            "pyramidnet",
            CIFAR,
            "PyramidNet with options depth (200) and alpha (240); bottleneck blocks.",
            options_model=PyramidNetOptions,
        ),
        ModelInfo(
            "binary-resnet18",
            CIFAR,
            "ResNet-18 with 1-bit weights scaled per output channel (first/last layers and shortcuts full precision).",
            options_model=BinaryResNetOptions,
        ),
        ModelInfo("resnet50", ("imagenet",), "torchvision ResNet-50, random init.", scalable_width=False),
        ModelInfo("resnet101", ("imagenet",), "torchvision ResNet-101, random init.", scalable_width=False),
        ModelInfo(
            "cgan",
            ("digits", "cifar100"),
            "Class-conditional GAN (one embedding per class) for XCL-GAN; train it with method gan.",
            generator=True,
        ),
    ]
}
