"""The worker's data and cache folders reach the loaders through train(data_root=..., cache_dir=...), and a
spec's own data_root / data_path still wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.training.data.common import DatasetNotFoundError
from worker.training.trainer import train
from xclab.spec import RunSpec, resolve_hparams


def _cifar(**overrides: str) -> RunSpec:
    return RunSpec.model_validate(
        {"task": "cifar100", "model": {"name": "resnet18-cifar"}, "overrides": overrides}
    )


def test_the_worker_data_root_is_where_loaders_look(tmp_path: Path) -> None:
    spec = _cifar()
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "worker-data" / "cifar-100-python")):
        train(spec, resolve_hparams(spec), tmp_path / "run", device="cpu", data_root=tmp_path / "worker-data")


@pytest.mark.parametrize("key", ["data_root", "data_path"])
def test_the_specs_own_folder_wins(tmp_path: Path, key: str) -> None:
    spec = _cifar(**{key: str(tmp_path / "own")})
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "own")):
        train(spec, resolve_hparams(spec), tmp_path / "run", device="cpu", data_root=tmp_path / "worker-data")


def test_the_worker_cache_dir_caches_rendered_data(tmp_path: Path) -> None:
    spec = RunSpec.model_validate(
        {
            "task": "synthetic-gaze",
            "model": {"name": "lenet", "width": 0.25},
            "epochs": 1,
            "overrides": {"samples_per_person": 8, "split_seed": 0},
        }
    )
    train(spec, resolve_hparams(spec), tmp_path / "run", device="cpu", cache_dir=tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["synthetic-gaze-r1-s20210-p15-m8.pt"]
