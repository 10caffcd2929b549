"""A small CNN for 8x8 digits; `width` scales every layer so students of several sizes share one family."""

from __future__ import annotations

from torch import nn

from worker.training.models import register_model


def _channels(base: int, width: float) -> int:
    return max(1, round(base * width))


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class SmallCNN(nn.Module):
    def __init__(self, num_outputs: int, width: float = 1.0, in_channels: int = 1) -> None:
        super().__init__()
        c1, c2, c3 = (_channels(b, width) for b in (16, 32, 64))
        self.features = nn.Sequential(
            _block(in_channels, c1), _block(c1, c2), nn.MaxPool2d(2), _block(c2, c3), nn.AdaptiveAvgPool2d(1)
        )
        self.classifier = nn.Linear(c3, num_outputs)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.classifier(self.features(x).flatten(1))


@register_model("small-cnn")
def small_cnn(*, num_outputs: int, width: float, input_shape: tuple[int, ...]) -> nn.Module:
    return SmallCNN(num_outputs, width, in_channels=input_shape[0])
