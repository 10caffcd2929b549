"""A procedural eye renderer (torch, batched, CPU or GPU): the pixels behind the `synthetic-gaze` task
(synthetic_gaze.py) and XCL-GAN's eye-image sources.

Stands in for two things the paper uses but this project cannot ship: MPIIGaze itself (when the real data is
not on disk) and the SimGAN-style conditional generator that XCL-GAN samples eye images from for any gaze.

Images are 36x60 grayscale, float in [0, 1] (the range `gaze_protocol.prepare_gaze` gives uint8 MPIIGaze
images), drawn for a gaze and head pose (pitch, yaw, radians, MPIIGaze conventions, see gaze_geometry) and a
person's appearance. The eyeball sits at the image centre (as in normalised MPIIGaze crops) and the iris is
the projection of a disk on it perpendicular to the gaze: it moves with the gaze and flattens into an ellipse
away from the camera, so gaze is learnable from pixels. The lid opening turns with the head, the upper lid
follows the eye's pitch and occludes the iris; lighting, exposure, blur and noise vary per person and image.

Public API: `Appearance`, `sample_people`, `sample_orientations`, `render`, `sample_batch`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from worker.training.data.gaze_domains import ORACLE, RenderDomain
from worker.training.data.gaze_geometry import pitchyaw_to_vector
from xclab.hparams import DataHparams

IMAGE_HEIGHT, IMAGE_WIDTH = 36, 60
RENDERER_VERSION = 1  # part of the cache file name: bump whenever rendered pixels change
# Defaults live with the hyperparameters: a fixed dataset that never moves with the run seed, 15 persons as
# MPIIGaze, 3,000 images each as the MPIIGaze evaluation subset (45,000 in all).
DATASET_SEED: int = DataHparams.model_fields["dataset_seed"].default
DEFAULT_PERSONS: int = DataHparams.model_fields["num_persons"].default
DEFAULT_SAMPLES_PER_PERSON: int = DataHparams.model_fields["samples_per_person"].default
RENDER_CHUNK = 2048  # fixed, so dataset generation draws the same random stream whatever the machine
CPU_CHUNK = 256  # images painted at once on CPU (see `render`)
TEXTURE_SHAPE = (6, 10)

# Orientation ranges (radians). Gaze = head pose + eye-in-head rotation, as MPIIGaze's mostly downward,
# screen-bound gaze: pitch about -0.75..0.55, yaw about -1..1.
HEAD_PITCH, HEAD_YAW = (-0.45, 0.25), (-0.45, 0.45)
EYE_PITCH, EYE_YAW = (-0.45, 0.3), (-0.55, 0.55)


@dataclass
class Appearance:
    """Per-person appearance: every field is a tensor whose first dimension indexes persons."""

    skin: torch.Tensor
    skin_texture: torch.Tensor  # [P, 1, 6, 10] N(0, 1) low-frequency blotches
    eye_center: torch.Tensor  # [P, 2]
    eyeball_radius: torch.Tensor
    eye_width: torch.Tensor
    eye_open: torch.Tensor
    lower_lid: torch.Tensor
    lid_shape: torch.Tensor
    lid_skew: torch.Tensor
    canthal_tilt: torch.Tensor
    crease_gap: torch.Tensor
    iris_radius: torch.Tensor
    iris_dark: torch.Tensor
    iris_phase: torch.Tensor
    pupil_ratio: torch.Tensor
    sclera: torch.Tensor
    lash: torch.Tensor
    crease: torch.Tensor
    brow: torch.Tensor
    brow_height: torch.Tensor
    light_dir: torch.Tensor
    light_strength: torch.Tensor
    gamma: torch.Tensor
    blur: torch.Tensor
    noise: torch.Tensor

    def __len__(self) -> int:
        return self.skin.shape[0]

    def select(self, index: torch.Tensor | slice) -> Appearance:
        """Rows `index` (e.g. one row per image from person ids)."""
        return Appearance(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def to(self, device: torch.device | str) -> Appearance:
        return Appearance(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    @property
    def device(self) -> torch.device:
        return self.skin.device


def _gen_device(generator: torch.Generator | None, fallback: torch.device | str | None) -> torch.device:
    if generator is not None:
        return torch.device(generator.device)
    return torch.device(fallback or "cpu")


def uniform(
    n: int, bounds: tuple[float, float], generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(n, generator=generator, device=device)


def sample_people(
    n: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    domain: RenderDomain = ORACLE,
) -> Appearance:
    """n random persons of `domain` (see gaze_domains). Random numbers come from `generator` (on its device);
    tensors end on `device`."""
    gdev = _gen_device(generator, device)
    values = {k: uniform(n, r, generator, gdev) for k, r in domain.ranges.items()}
    values["eye_center"] = torch.stack([uniform(n, r, generator, gdev) for r in domain.center], dim=1)
    texture = torch.randn((n, 1, *TEXTURE_SHAPE), generator=generator, device=gdev)
    values["skin_texture"] = texture * domain.texture
    people = Appearance(**values)
    return people.to(device) if device is not None else people


def sample_orientations(
    n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(gaze [n, 2], head pose [n, 2]) uniform over the renderer's working range."""
    gdev = _gen_device(generator, device)
    head = torch.stack([uniform(n, HEAD_PITCH, generator, gdev), uniform(n, HEAD_YAW, generator, gdev)], 1)
    eye = torch.stack([uniform(n, EYE_PITCH, generator, gdev), uniform(n, EYE_YAW, generator, gdev)], 1)
    gaze = head + eye
    return (gaze.to(device), head.to(device)) if device is not None else (gaze, head)


def _col(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, 1, 1)


# exp() far into underflow (or overflow) takes a slow path several times slower than the vectorised one on
# CPU, so every falloff below is capped; the capped values are ~1e-13 from the exact ones.
def _bump(z: torch.Tensor) -> torch.Tensor:
    """exp(-z^2)."""
    return torch.exp(-(z * z).clamp_(max=30.0))


def _decay(z: torch.Tensor) -> torch.Tensor:
    """exp(-z) for z >= 0."""
    return torch.exp(-z.clamp(max=30.0))


def _sigmoid(z: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(z.clamp(-30.0, 30.0))


def _blur(img: torch.Tensor, sigma: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """Separable Gaussian blur with a per-image sigma: a weighted sum of shifted copies (vectorised; grouped
    convolutions with one group per image are slow on CPU)."""
    offsets = torch.arange(-radius, radius + 1, device=img.device, dtype=img.dtype)
    w = torch.exp(-(offsets**2) / (2 * sigma[:, None] ** 2))
    w = w / w.sum(1, keepdim=True)  # [n, 2r+1]
    h, width = img.shape[-2:]
    x = F.pad(img.unsqueeze(1), (radius, radius, radius, radius), mode="replicate").squeeze(1)
    rows = sum(_col(w[:, k]) * x[:, :, k : k + width] for k in range(2 * radius + 1))
    return sum(_col(w[:, k]) * rows[:, k : k + h, :] for k in range(2 * radius + 1))  # type: ignore[return-value]


def render(
    gaze: torch.Tensor,
    head_pose: torch.Tensor,
    people: Appearance,
    generator: torch.Generator | None = None,
    domain: RenderDomain = ORACLE,
) -> torch.Tensor:
    """Eye images [N, 1, 36, 60], float in [0, 1], on gaze's device.

    gaze, head_pose: [N, 2] (pitch, yaw) radians; people: N rows (use `Appearance.select` to map images to
    persons). Per-image nuisances (light jitter, exposure, blink, glint, noise) are drawn from `generator`
    on its own device, so a CPU generator gives the same images whichever device renders them. `domain`
    sets the nuisances' ranges (persons carry their own appearance)."""
    n, dev = gaze.shape[0], gaze.device
    if head_pose.shape != gaze.shape or gaze.shape[1:] != (2,) or len(people) != n:
        raise ValueError(
            f"render needs gaze and head_pose [N, 2] and N people; got {tuple(gaze.shape)}, "
            f"{tuple(head_pose.shape)} and {len(people)} people"
        )
    gdev = _gen_device(generator, dev)
    # All randomness first, for the whole batch, so chunking below never changes the images.
    nuisance = {name: uniform(n, bounds, generator, gdev).to(dev) for name, bounds in domain.nuisance.items()}
    noise = torch.randn((n, IMAGE_HEIGHT, IMAGE_WIDTH), generator=generator, device=gdev).to(dev)
    people = people.to(dev)
    # On CPU, ~1 MB temporaries are several times faster than batch-sized ones (large allocations page-fault
    # afresh on every op); on GPU the caching allocator makes one big batch best.
    chunk = n if dev.type != "cpu" else CPU_CHUNK
    out = [
        _paint(
            gaze[i : i + chunk].float(),
            head_pose[i : i + chunk].float(),
            people.select(slice(i, i + chunk)),
            {k: _col(v[i : i + chunk]) for k, v in nuisance.items()},
            noise[i : i + chunk],
        )
        for i in range(0, n, chunk)
    ]
    return torch.cat(out).unsqueeze(1) if out else torch.empty((0, 1, IMAGE_HEIGHT, IMAGE_WIDTH), device=dev)


def _paint(
    gaze: torch.Tensor,
    head_pose: torch.Tensor,
    p: Appearance,
    nz: dict[str, torch.Tensor],
    noise_field: torch.Tensor,
) -> torch.Tensor:
    dev = gaze.device
    v = (torch.arange(IMAGE_HEIGHT, device=dev, dtype=torch.float32) + 0.5 - IMAGE_HEIGHT / 2).view(1, -1, 1)
    u = (torch.arange(IMAGE_WIDTH, device=dev, dtype=torch.float32) + 0.5 - IMAGE_WIDTH / 2).view(1, 1, -1)

    # Eyeball and iris. The pupil centre is the eyeball centre + R * gaze, projected orthographically
    # (the normalised camera looks straight at the eye): yaw > 0 moves it to image left, pitch > 0 up.
    g = pitchyaw_to_vector(gaze)
    radius, cx, cy = p.eyeball_radius, p.eye_center[:, 0], p.eye_center[:, 1]
    ix, iy = _col(cx + radius * g[:, 0]), _col(cy + radius * g[:, 1])
    du_e, dv_e = (u - _col(cx)) / _col(radius), (v - _col(cy)) / _col(radius)
    sclera = _col(p.sclera) * (1 - 0.5 * (du_e**2 + dv_e**2)).clamp(0.35, 1.0)  # darker towards the corners
    # Iris: a disk perpendicular to the gaze, i.e. an ellipse squeezed by |g_z| along the in-plane gaze.
    gxy = torch.hypot(g[:, 0], g[:, 1])
    frontal = gxy < 1e-6  # looking straight at the camera: a circle, any axis will do
    ex = torch.where(frontal, torch.ones_like(gxy), g[:, 0] / gxy.clamp_min(1e-6))
    ey = torch.where(frontal, torch.zeros_like(gxy), g[:, 1] / gxy.clamp_min(1e-6))
    ex, ey, gz = _col(ex), _col(ey), _col((-g[:, 2]).clamp_min(0.2))
    du, dv = u - ix, v - iy
    along, across = (du * ex + dv * ey) / gz, dv * ex - du * ey
    iris_r = _col(p.iris_radius)
    rr = torch.sqrt(along**2 + across**2 + 1e-6) / iris_r  # 1 on the iris rim
    iris_mask = _sigmoid((1 - rr) * iris_r / 0.5)
    texture = 1 + 0.12 * torch.cos(9 * torch.atan2(across, along) + _col(p.iris_phase))
    limbus = 1 - 0.4 * _bump((rr - 0.97) / 0.09)
    iris = _col(p.iris_dark) * (0.7 + 0.45 * rr.clamp(max=1)) * texture * limbus
    pupil_mask = _sigmoid((_col(p.pupil_ratio) - rr) * iris_r / 0.45)
    ball = torch.lerp(torch.lerp(sclera, iris, iris_mask), torch.full_like(sclera, 0.03), pupil_mask)
    light = _col(p.light_dir) + nz["light_jitter"]
    lx, ly = torch.cos(light), torch.sin(light)
    glint_d2 = (u - ix - 0.4 * iris_r * lx) ** 2 + (v - iy - 0.4 * iris_r * ly) ** 2
    glint = nz["glint"] * _decay(glint_d2 / (2 * 0.6**2))  # corneal reflection on the light's side
    ball = ball + (1 - ball) * glint

    # Lids, in a frame that follows the head: the opening sits in front of the eyeball and turns with it.
    h = pitchyaw_to_vector(head_pose)
    sx, sy = _col(cx + 0.9 * radius * h[:, 0]), _col(cy + 0.9 * radius * h[:, 1])
    eye_pitch = _col(gaze[:, 0] - head_pose[:, 0])  # eye-in-head pitch: the upper lid follows it
    width = _col(p.eye_width) * (0.8 + 0.2 * torch.cos(_col(head_pose[:, 1])))  # foreshortened by head yaw
    upper = _col(p.eye_open) * nz["blink"] * (1 + eye_pitch).clamp(0.3, 1.6)
    lower = _col(p.lower_lid) * (1 - 0.35 * eye_pitch).clamp(0.6, 1.4)
    tilt = _col(p.canthal_tilt)
    xs = torch.cos(tilt) * (u - sx) + torch.sin(tilt) * (v - sy)
    ys = torch.cos(tilt) * (v - sy) - torch.sin(tilt) * (u - sx)
    t = xs / width
    base = (1 - t * t).clamp_min(0)
    log_base = torch.log(base.clamp_min(1e-12))  # powers of base as exp(a * log): no log(0) slow paths
    profile = torch.exp(log_base * _col(p.lid_shape))
    root = base.sqrt()
    y_up = -upper * profile * (1 + _col(p.lid_skew) * t)
    y_lo = lower * profile
    # Soft lid edges; the (y_lo - y_up) factor closes the slit smoothly at the corners.
    inside = _sigmoid((ys - y_up) / 0.6) * _sigmoid((y_lo - ys) / 0.6) * (y_lo - y_up).clamp(0, 1)
    ball = ball * (1 - 0.4 * _decay((ys - y_up).clamp_min(0) / 2.0))  # upper-lid shadow on the eyeball

    # Skin: texture, orbital hollow, lid crease, eyebrow.
    tex = F.interpolate(
        p.skin_texture.float(), size=(IMAGE_HEIGHT, IMAGE_WIDTH), mode="bilinear", align_corners=False
    )[:, 0]
    skin = _col(p.skin) * (1 + 0.07 * tex)
    skin = skin * (1 - 0.18 * _decay(t * t / 1.6 + (ys / (upper + 6)) ** 2))
    crease_y = y_up - _col(p.crease_gap) * root
    skin = skin * (1 - _col(p.crease) * root * _bump(ys - crease_y))
    brow_y = -_col(p.brow_height) + 4 * t**2
    brow_span = _sigmoid((1.4 - t.abs()) * 6)
    skin = skin * (1 - _col(p.brow) * brow_span * _bump((ys - brow_y) / 2.2))

    img = torch.lerp(skin, ball, inside)
    lashes = _bump((ys - y_up + 0.5) / 0.9) * torch.exp(0.3 * log_base)
    lashes = lashes + 0.35 * _bump((ys - y_lo - 0.3) / 0.7) * root
    img = img * (1 - _col(p.lash) * lashes.clamp(max=1))

    # Directional light across the patch, exposure, camera response, optics, sensor noise.
    strength = _col(p.light_strength) * nz["light_gain"]
    img = img * (1 + strength * (lx * u / (IMAGE_WIDTH / 2) + ly * v / (IMAGE_HEIGHT / 2))) * nz["exposure"]
    img = img.clamp(1e-4, 1.0).pow(_col(p.gamma))
    img = _blur(img, p.blur)
    img = img + _col(p.noise) * nz["noise_gain"] * noise_field
    return img.clamp(0.0, 1.0)


def sample_batch(
    n: int,
    generator: torch.Generator | None = None,
    people: Appearance | None = None,
    device: torch.device | str | None = None,
    return_head_pose: bool = False,
    domain: RenderDomain = ORACLE,
) -> tuple[torch.Tensor, ...]:
    """n fresh eye images for random orientations: (images [n, 1, 36, 60] in [0, 1], gaze [n, 2]) and,
    with return_head_pose, head pose [n, 2]. Each image gets a new random person unless `people` is given
    (then persons are drawn from it). Randomness comes from `generator` on its device; rendering runs on
    `device` (default: the generator's), so a CPU generator can drive a GPU render reproducibly.
    New persons come from `domain` (see gaze_domains). This is XCL-GAN's sample source on gaze tasks (the
    paper's SimGAN generator)."""
    gdev = _gen_device(generator, device)
    dev = torch.device(device) if device is not None else gdev
    if people is None:
        persons = sample_people(n, generator, domain=domain)
    else:
        pick = torch.randint(len(people), (n,), generator=generator, device=gdev)
        persons = people.to(gdev).select(pick)
    gaze, head = sample_orientations(n, generator)
    images = render(gaze.to(dev), head.to(dev), persons.to(dev), generator, domain)
    return (images, gaze.to(dev), head.to(dev)) if return_head_pose else (images, gaze.to(dev))
