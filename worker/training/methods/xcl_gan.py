"""XCL-GAN: the transfer set is originals of the batch plus generated inputs, `gan_fraction` of it generated
(batch_composition half: B samples in all, the paper's; append: the generated ones added to the B originals).
Inputs come from the task's built-in generator (gaze: the eye renderer) or a finished generator run; online
they are fresh every step and labelled by the ensemble now, offline they are drawn from a pool sampled and
labelled once (stored in the run's folder, so a resumed run reuses it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from worker.training.data import input_generator
from worker.training.generators import load_generator
from worker.training.methods import register_method
from worker.training.methods.base import MethodContext, Sampler
from worker.training.methods.distill import Distill, Transfer, split_transfer
from worker.training.safe_load import load_checkpoint
from worker.training.teachers import TeacherEnsemble
from xclab.catalog.methods import XCLGANParams

POOL_FILE = "offline_pool.pt"
POOL_CHUNK = 1024


@dataclass
class OfflinePool:
    """Generated inputs plus their teacher targets: probabilities at the run's T (classification) or the
    merged Gaussian (mu, log variance) for regression."""

    images: torch.Tensor
    targets: tuple[torch.Tensor, ...]

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        idx = torch.randint(0, len(self.images), (n,), generator=generator).to(self.images.device)
        return self.images[idx], tuple(t[idx] for t in self.targets)


@register_method("xcl-gan")
class XCLGAN(Distill[XCLGANParams]):
    params_model = XCLGANParams

    def __init__(self, ctx: MethodContext) -> None:
        super().__init__(ctx)
        draw = generated_sampler(ctx, self.name)
        self.pool: OfflinePool | None = None
        self.draw: Sampler | None = None
        if self.p.mode == "offline":
            assert ctx.teachers is not None and ctx.workdir is not None
            self.pool = self._offline_pool(ctx.workdir / POOL_FILE, draw, ctx.teachers)
        else:
            self.draw = draw

    def transfer_set(self, x: torch.Tensor) -> Transfer:
        originals, n_gen = split_transfer(len(x), self.p.gan_fraction, self.p.batch_composition)
        kept = x[:originals]
        if self.pool is not None:
            images, targets = self.pool.draw(n_gen, self.ctx.generator)  # mixing stream
            return Transfer(torch.cat([kept, images.to(x.dtype)]), originals, targets)
        assert self.draw is not None
        return Transfer(torch.cat([kept, self.draw(n_gen, self.ctx.samples).to(x.dtype)]), originals)

    def _offline_pool(self, path: Path, draw: Sampler, teachers: TeacherEnsemble) -> OfflinePool:
        """Sample the generated set once, label it with the ensemble once, and store both."""
        if path.exists():
            stored = load_checkpoint(path)
            device = next(teachers.parameters()).device
            return OfflinePool(stored["images"].to(device), tuple(t.to(device) for t in stored["targets"]))
        gen = torch.Generator().manual_seed(self.ctx.pool_seed)
        size = self.p.offline_size
        images, targets = [], []
        for start in range(0, size, POOL_CHUNK):
            batch = draw(min(POOL_CHUNK, size - start), gen)
            with self.ctx.autocast():
                if self.ctx.task.regression:
                    targets.append(teachers.gaussian(batch))
                else:
                    targets.append((teachers.probs(batch, self.p.temperature),))
            images.append(batch)
        pool = OfflinePool(
            torch.cat(images), tuple(torch.cat(parts).float() for parts in zip(*targets, strict=True))
        )
        torch.save({"images": pool.images.cpu(), "targets": [t.cpu() for t in pool.targets]}, path)
        return pool


def builtin_generator_name(builtin: str, renderer: str) -> str:
    """The registered input generator for a task's built-in generator and the `renderer` parameter: the
    oracle is the task's own generator, a variant registers under "<name>-<variant>"."""
    return builtin if renderer == "oracle" else f"{builtin}-{renderer}"


def generated_sampler(ctx: MethodContext, method: str) -> Sampler:
    """Where the generated inputs come from: the task's built-in generator (in the `renderer` variant the
    run asks for), else the generator run's GAN."""
    device = ctx.device
    renderer = ctx.params.get("renderer", "gap")
    if ctx.task.builtin_generator is not None:
        render = input_generator(builtin_generator_name(ctx.task.builtin_generator, renderer))

        def draw_builtin(n: int, gen: torch.Generator) -> torch.Tensor:
            return render(n, gen).to(device)

        return draw_builtin
    if renderer == "oracle":
        raise ValueError(
            f"{method}: renderer 'oracle' applies to gaze tasks only; task '{ctx.task.name}' samples a "
            "generator run (leave renderer at its default)"
        )
    if ctx.generator_path is None:
        raise ValueError(
            f"{method} on task '{ctx.task.name}' needs method.generator_run (a finished generator run)"
        )
    gan = load_generator(ctx.generator_path, device)

    @torch.no_grad()
    def draw_gan(n: int, gen: torch.Generator) -> torch.Tensor:
        return gan.sample_mixed(n, gen)

    return draw_gan
