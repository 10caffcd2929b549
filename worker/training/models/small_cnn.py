"""A small CNN for 8x8 digits; `width` scales every layer so students of several sizes share one family.
With `binary=True` the two inner convs carry 1-bit weights (the first conv and the classifier stay full
precision, as in the paper's binary ResNet-18), for the binary panel of the student-size curve."""

from __future__ import annotations

from torch import nn

from worker.training.models import register_model
from worker.training.models.binary import BinaryConv2d
from worker.training.models.common import check_bool, scale_channels


def _block(cin: int, cout: int, binary: bool = False) -> nn.Sequential:
    conv = BinaryConv2d if binary else nn.Conv2d
    return nn.Sequential(
        conv(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class SmallCNN(nn.Module):
    def __init__(
        self, num_outputs: int, width: float = 1.0, in_channels: int = 1, binary: bool = False
    ) -> None:
        super().__init__()
        c1, c2, c3 = (scale_channels(b, width) for b in (16, 32, 64))
        self.features = nn.Sequential(
            _block(in_channels, c1),
            _block(c1, c2, binary),
            nn.MaxPool2d(2),
            _block(c2, c3, binary),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Linear(c3, num_outputs)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.classifier(self.features(x).flatten(1))


@register_model("small-cnn")
def small_cnn(
    *, num_outputs: int, width: float, input_shape: tuple[int, ...], binary: bool = False
) -> nn.Module:
    return SmallCNN(
        num_outputs, width, in_channels=input_shape[0], binary=check_bool("small-cnn", "binary", binary)
    )
