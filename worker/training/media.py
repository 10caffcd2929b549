"""Pictures a run shows on its page: a generator's samples at an epoch, tiled into one PNG."""

from __future__ import annotations

import io

import torch
from PIL import Image

MAX_SAMPLE_GRIDS = 20  # per run: the epochs are chosen evenly, the last one always among them
SAMPLES_PER_CLASS = 8
MIN_SIDE = 32  # pixels: 8x8 digits are drawn 4 times larger


def sample_epochs(epochs: int, cap: int = MAX_SAMPLE_GRIDS) -> set[int]:
    """The (1-based) epochs whose samples are kept: at most `cap`, evenly spread, ending with the last."""
    if epochs <= cap:
        return set(range(1, epochs + 1))
    return {epochs - round(i * (epochs - 1) / (cap - 1)) for i in range(cap)}


def class_grid_labels(num_classes: int, per_class: int = SAMPLES_PER_CLASS) -> torch.Tensor:
    """One row per class (at most 20 rows), `per_class` samples each."""
    return torch.arange(min(num_classes, 20)).repeat_interleave(per_class)


def sample_grid_png(images: torch.Tensor, columns: int = SAMPLES_PER_CLASS, pad: int = 2) -> bytes:
    """(N, C, H, W) images, any range, as a PNG grid `columns` wide; each image is scaled to 0-255 on its own, and
    images under MIN_SIDE pixels are enlarged by a whole factor (nearest neighbour: the pixels stay crisp)."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"sample grid: expected (N, 1 or 3, H, W) images, got {tuple(images.shape)}")
    x = images.detach().float().cpu()
    factor = max(1, MIN_SIDE // min(x.shape[2], x.shape[3]))
    x = x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)
    low = x.amin(dim=(1, 2, 3), keepdim=True)
    high = x.amax(dim=(1, 2, 3), keepdim=True)
    x = ((x - low) / (high - low).clamp_min(1e-8) * 255).round().to(torch.uint8)
    n, c, h, w = x.shape
    rows = -(-n // columns)
    grid = torch.zeros(c, rows * (h + pad) + pad, columns * (w + pad) + pad, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = x[i]
    array = grid.permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[:, :, 0] if c == 1 else array, mode="L" if c == 1 else "RGB")
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()
