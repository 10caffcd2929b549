"""Appearance domains of the eye renderer: the ranges persons and per-image nuisances are drawn from.

- `ORACLE`: the domain the synthetic-gaze dataset (its training and its test persons) is rendered from.
  XCL-GAN sampling it is an oracle generator, an upper bound no real method has: the paper's SimGAN never
  saw the test persons' image distribution.
- `GAP`: a deliberately mismatched variant, XCL-GAN's default on gaze tasks. Appearance ranges are the
  central half of the oracle's (a narrower population), lighting is flat (no directional shading, jitter,
  gain or exposure changes), there are no corneal glints and no skin texture. Like a simulator before
  refinement, it renders gaze faithfully but misses part of the real images' variation.

Both draw the same random stream layout, so a seed names comparable persons in either domain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Range = tuple[float, float]

# Per-person appearance ranges (uniform). Lengths are pixels of the 36x60 image.
ORACLE_RANGES: dict[str, Range] = {
    "skin": (0.35, 0.85),  # skin reflectance
    "eyeball_radius": (11.0, 13.5),
    "eye_width": (17.0, 23.0),  # half-width of the lid opening
    "eye_open": (4.5, 8.0),  # upper-lid height above the lid centre line at rest
    "lower_lid": (3.0, 5.5),  # lower-lid depth below it
    "lid_shape": (0.55, 1.1),  # exponent of the lid curves: < 1 round, > 1 almond
    "lid_skew": (-0.25, 0.25),  # moves the highest point of the upper lid towards a corner
    "canthal_tilt": (-0.12, 0.12),  # radians
    "crease_gap": (2.5, 5.0),  # lid crease distance above the lid edge
    "iris_radius": (5.0, 6.8),
    "iris_dark": (0.08, 0.45),  # iris reflectance
    "iris_phase": (0.0, 2 * math.pi),  # radial iris texture
    "pupil_ratio": (0.3, 0.5),  # pupil radius / iris radius
    "sclera": (0.55, 0.95),
    "lash": (0.25, 0.75),  # darkness of the lash line and lid margins
    "crease": (0.05, 0.35),
    "brow": (0.0, 0.55),  # eyebrow darkness (0: none visible)
    "brow_height": (13.0, 19.0),  # eyebrow distance above the lid centre
    "light_dir": (-math.pi, math.pi),  # direction of the light in the image plane
    "light_strength": (0.0, 0.45),  # left/right or top/bottom shading amplitude
    "gamma": (0.8, 1.25),
    "blur": (0.3, 1.3),  # Gaussian sigma, pixels
    "noise": (0.005, 0.04),  # sensor noise std
}
ORACLE_CENTER: tuple[Range, Range] = ((-2.5, 2.5), (-1.5, 2.5))  # eyeball centre offset (x, y), pixels
# Per-image nuisances, drawn in this order by `render`.
ORACLE_NUISANCE: dict[str, Range] = {
    "light_jitter": (-0.6, 0.6),  # radians around the person's light direction
    "light_gain": (0.7, 1.3),
    "exposure": (0.75, 1.2),
    "blink": (0.8, 1.1),  # scales the upper-lid opening
    "glint": (0.0, 0.9),
    "noise_gain": (0.6, 1.4),
}
# Ranges that stay whole in the gap domain: a phase or a direction has no "central half".
_KEEP_WHOLE = {"iris_phase", "light_dir"}


@dataclass(frozen=True)
class RenderDomain:
    name: str
    ranges: dict[str, Range]
    center: tuple[Range, Range]
    nuisance: dict[str, Range]
    texture: float  # amplitude of the low-frequency skin blotches (1: the oracle's)


def _central(bounds: Range, share: float = 0.5) -> Range:
    lo, hi = bounds
    mid, half = (lo + hi) / 2, (hi - lo) * share / 2
    return (mid - half, mid + half)


def _fixed(value: float) -> Range:
    return (value, value)


ORACLE = RenderDomain("oracle", ORACLE_RANGES, ORACLE_CENTER, ORACLE_NUISANCE, texture=1.0)
GAP = RenderDomain(
    "gap",
    ranges={
        **{k: r if k in _KEEP_WHOLE else _central(r) for k, r in ORACLE_RANGES.items()},
        "light_strength": _fixed(0.0),  # flat lighting
    },
    center=(_central(ORACLE_CENTER[0]), _central(ORACLE_CENTER[1])),
    nuisance={
        **{k: _central(r) for k, r in ORACLE_NUISANCE.items()},
        "light_jitter": _fixed(0.0),
        "light_gain": _fixed(1.0),
        "exposure": _fixed(1.0),
        "glint": _fixed(0.0),  # no corneal reflection
    },
    texture=0.0,
)
DOMAINS: dict[str, RenderDomain] = {d.name: d for d in (ORACLE, GAP)}
