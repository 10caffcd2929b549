"""Paired seeds: with one seed, ERM, KD and XCL-Mix start from the same weights and train on the same original
batches in every epoch; each method's own draws (mixing, generated samples) come from streams of their own."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from worker.training.streams import STREAMS, RunStreams, derive_seed
from worker.training.trainer import Hooks, train
from xclab.spec import RunSpec, resolve_hparams


class Recorder(Hooks):
    def __init__(self) -> None:
        self.initial: dict[str, torch.Tensor] = {}
        self.batches: list[str] = []

    def on_model_built(self, model: nn.Module) -> None:
        self.initial = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def on_train_batch(self, step: int, x: torch.Tensor, y: torch.Tensor) -> None:
        digest = hashlib.sha256(x.detach().cpu().numpy().tobytes() + y.cpu().numpy().tobytes()).hexdigest()
        self.batches.append(digest)


def _spec(method: dict[str, Any], seed: int, **kw: Any) -> RunSpec:
    return RunSpec.model_validate(
        {
            "task": "digits",
            "model": {"name": "small-cnn", "width": 0.25},
            "method": method,
            "seed": seed,
            **kw,
        }
    )


def _record(tmp: Path, method: dict[str, Any], seed: int, teachers: list[Path] | None = None) -> Recorder:
    spec = _spec(method, seed, epochs=3, teachers=[1] if teachers else [])
    hooks = Recorder()
    train(
        spec,
        resolve_hparams(spec),
        tmp / f"{method['name']}-{seed}",
        hooks=hooks,
        device="cpu",
        teacher_paths=teachers,
    )
    return hooks


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("teacher")
    spec = _spec({"name": "erm"}, seed=7, epochs=2)
    return [train(spec, resolve_hparams(spec), tmp / "t", device="cpu").model_path]


def test_erm_kd_and_xcl_mix_share_initial_weights_and_every_batch(
    tmp_path: Path, teacher: list[Path]
) -> None:
    runs = {
        "erm": _record(tmp_path, {"name": "erm"}, seed=3),
        "kd": _record(tmp_path, {"name": "kd"}, seed=3, teachers=teacher),
        "xcl-mix": _record(tmp_path, {"name": "xcl-mix", "mix": "both"}, seed=3, teachers=teacher),
    }
    erm = runs["erm"]
    assert len(erm.batches) > 3 * 2 and len(set(erm.batches)) == len(erm.batches)  # 3 epochs, all distinct
    for name, run in runs.items():
        assert run.initial.keys() == erm.initial.keys(), name
        assert all(torch.equal(run.initial[k], erm.initial[k]) for k in erm.initial), name
        assert run.batches == erm.batches, name
    # and the seed matters: another seed gives other weights and other batches
    other = _record(tmp_path, {"name": "erm"}, seed=4)
    assert other.batches[0] != erm.batches[0]
    assert any(not torch.equal(other.initial[k], erm.initial[k]) for k in erm.initial)


def test_streams_are_distinct_and_fixed_by_the_seed() -> None:
    seeds = [derive_seed(0, s) for s in STREAMS]
    assert len(set(seeds)) == len(STREAMS) and all(0 <= s < 2**63 for s in seeds)
    assert derive_seed(0, "data") == derive_seed(0, "data") != derive_seed(1, "data")
    a, b = RunStreams(5, torch.device("cpu")), RunStreams(5, torch.device("cpu"))
    torch.randperm(10, generator=a.mixing)  # a method's own draw...
    assert torch.equal(
        torch.randperm(10, generator=a.data), torch.randperm(10, generator=b.data)
    )  # ...moves no other


def test_mixing_draws_come_only_from_their_generator() -> None:
    from worker.training.losses import cutmix, mixup

    x = torch.randn(8, 1, 8, 8)
    for mixer in (mixup, cutmix):
        torch.manual_seed(0)
        first = mixer(x, 1.0, torch.Generator().manual_seed(1))
        torch.manual_seed(123)  # the global RNG no longer matters
        second = mixer(x, 1.0, torch.Generator().manual_seed(1))
        assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1]) and first[2] == second[2]
