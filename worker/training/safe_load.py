"""The one way the engine reads a `.pt` file: `torch.load(weights_only=True)`, so a checkpoint can hold
tensors, state dicts and plain metadata (numbers, strings, lists, dicts) but never code. Teacher and
generator checkpoints come from the artifact store, i.e. from the network: unpickling them freely would let
whoever uploaded one run code on the worker."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch


class UnsafeCheckpoint(ValueError):
    """The file holds something other than tensors and plain metadata; it was not unpickled."""


def load_checkpoint(path: Path, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpoint(
            f"{path} is not a plain checkpoint (tensors, state dicts and metadata only); refused to load it: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    if not isinstance(state, dict):
        raise UnsafeCheckpoint(f"{path} holds a {type(state).__name__}, not a checkpoint dictionary")
    return state
