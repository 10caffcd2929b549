"""Helpers shared by the loaders: where a dataset lives, the not-found error, and per-seed training subsets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xclab.hparams import DataHparams
from xclab.spec import RunSpec


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not where the loader looked. The message names the path and the expected layout; nothing
    is ever downloaded, so the fix is always to put the files there (or point `data_path` at them)."""


def dataset_dir(hp: DataHparams, folder: str) -> Path:
    """`data_path` if given (the exact folder), else `data_root` (default "data") / folder."""
    if hp.data_path:
        return Path(hp.data_path).expanduser()
    return Path(hp.data_root or "data").expanduser() / folder


def shown(path: Path) -> str:
    """A path for error messages: relative paths also shown resolved, since the worker's cwd is not obvious."""
    return str(path) if path.is_absolute() else f"{path} (= {path.resolve()})"


def subset_size(spec: RunSpec, hp: DataHparams) -> int:
    return spec.limit or hp.train_subset


def subset_indices(n: int, spec: RunSpec, hp: DataHparams) -> np.ndarray | None:
    """Indices of a random training subset of `spec.limit` / `train_subset` samples, or None for the full set.
    Fixed by `subset_seed` (default 0), not the run seed, as for digits: teachers and students of one grid
    see the same labelled samples. RandomState, not Generator: its stream is frozen across numpy versions."""
    size = subset_size(spec, hp)
    if not size or size >= n:
        if size > n:
            raise ValueError(f"train_subset/limit={size} exceeds the {n} training samples")
        return None
    return np.sort(np.random.RandomState(hp.subset_seed).permutation(n)[:size])
