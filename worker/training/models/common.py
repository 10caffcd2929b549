"""Helpers shared by the model builders: width scaling and argument checks."""

from __future__ import annotations


def scale_channels(base: int, width: float) -> int:
    """Channels of a width-scaled layer: `round(base * width)`, at least 1 (students shrink by width)."""
    return max(1, round(base * width))


def check_width(width: float) -> None:
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")


def check_image_shape(input_shape: tuple[int, ...], model: str) -> tuple[int, int, int]:
    """Models here take one image per sample; fail at build time rather than at the first batch."""
    if len(input_shape) != 3 or any(int(d) < 1 for d in input_shape):
        raise ValueError(f"{model}: input_shape must be (channels, height, width), got {input_shape}")
    c, h, w = (int(d) for d in input_shape)
    return c, h, w


def check_bool(model: str, option: str, value: object) -> bool:
    """Options arrive from JSON specs; a string such as "false" must not silently count as True."""
    if not isinstance(value, bool):
        raise ValueError(f"{model}: option '{option}' must be true or false, got {value!r}")
    return value
