"""Class-conditional GAN networks for XCL-GAN on classification tasks, trained by a `gan` run
(worker.training.methods.gan) and sampled by XCL-GAN (worker.training.methods.xcl_gan).

BigGAN-style conditioning: one learned embedding v_i per class. Mixed-class samples interpolate embeddings,
v = lam * v_i + (1 - lam) * v_j, and generate G(z; v). The paper leaves lam's distribution and the pair choice
open; here i, j are uniform over classes and lam ~ Uniform(0, 1) (stated in the run's hparams).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from worker.training.safe_load import load_checkpoint


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Upsample(scale_factor=2),
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ConditionalGenerator(nn.Module):
    def __init__(
        self,
        num_classes: int,
        image_shape: tuple[int, int, int],
        latent_dim: int = 32,
        width: float = 1.0,
        out_scale: float = 1.0,
    ) -> None:
        super().__init__()
        channels, height, width_px = image_shape
        if height % 4 or width_px % 4:
            raise ValueError(f"generator needs image sides divisible by 4, got {height}x{width_px}")
        self.num_classes, self.latent_dim, self.image_shape = num_classes, latent_dim, image_shape
        self.embed_dim = max(8, latent_dim // 2)
        base = max(8, round(64 * width))
        self.base, self.start = base, (height // 4, width_px // 4)
        self.embedding = nn.Embedding(num_classes, self.embed_dim)
        self.fc = nn.Linear(latent_dim + self.embed_dim, 2 * base * self.start[0] * self.start[1])
        self.body = nn.Sequential(
            _up(2 * base, base), _up(base, base), nn.Conv2d(base, channels, 3, padding=1)
        )
        self.register_buffer("out_scale", torch.tensor(float(out_scale)))

    def forward(self, z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc(torch.cat([z, v], 1))).view(len(z), 2 * self.base, *self.start)
        return torch.tanh(self.body(h)) * self.out_scale

    def sample_classes(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(len(y), self.latent_dim, generator=generator).to(y.device)
        return self(z, self.embedding(y))

    def sample_mixed(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Samples between two random classes: G(z; lam v_i + (1 - lam) v_j)."""
        device = self.embedding.weight.device
        pairs = torch.randint(0, self.num_classes, (2, n), generator=generator).to(device)
        lam = torch.rand(n, 1, generator=generator).to(device)
        v = lam * self.embedding(pairs[0]) + (1 - lam) * self.embedding(pairs[1])
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self(z, v)


class ProjectionDiscriminator(nn.Module):
    def __init__(self, num_classes: int, image_shape: tuple[int, int, int], width: float = 1.0) -> None:
        super().__init__()
        base = max(8, round(64 * width))
        sn = nn.utils.spectral_norm
        self.features = nn.Sequential(
            sn(nn.Conv2d(image_shape[0], base, 3, padding=1)),
            nn.LeakyReLU(0.2),
            sn(nn.Conv2d(base, 2 * base, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * base, 2 * base, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
        )
        self.linear = sn(nn.Linear(2 * base, 1))
        self.embedding = sn(nn.Embedding(num_classes, 2 * base))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        phi = self.features(x).sum((2, 3))
        return self.linear(phi).squeeze(1) + (self.embedding(y) * phi).sum(1)


def generator_config(gen: ConditionalGenerator) -> dict[str, Any]:
    return {
        "num_classes": gen.num_classes,
        "image_shape": list(gen.image_shape),
        "latent_dim": gen.latent_dim,
        "width": gen.base / 64,
    }


def load_generator(path: Path, device: torch.device) -> ConditionalGenerator:
    """Rebuild a trained generator from a `generator` run's model.pt."""
    state = load_checkpoint(path, device)
    if state.get("kind") != "generator":
        raise ValueError(f"{path} is not a generator checkpoint (kind={state.get('kind', 'model')})")
    cfg = state["generator_config"]
    gen = ConditionalGenerator(cfg["num_classes"], tuple(cfg["image_shape"]), cfg["latent_dim"], cfg["width"])
    gen.load_state_dict(state["generator"])
    return gen.to(device).eval().requires_grad_(False)
