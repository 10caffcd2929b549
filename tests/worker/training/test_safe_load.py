"""Teacher, generator, resume and pool checkpoints load with weights_only=True: a planted pickle whose
`__reduce__` would create a marker file is refused, and the marker never appears."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from worker.training.generators import load_generator
from worker.training.safe_load import UnsafeCheckpoint, load_checkpoint
from worker.training.teachers import TeacherEnsemble, load_member


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def _plant(path: Path, marker: Path) -> Path:
    # Shaped like a real model.pt, with the payload hidden in a metadata field.
    torch.save({"kind": "generator", "model": {"w": torch.zeros(2)}, "spec": _Exploit(marker)}, path)
    return path


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "pwned"
    return _plant(tmp_path / "model.pt", marker), marker


def test_the_payload_is_live_when_unpickled_freely(planted: tuple[Path, Path]) -> None:
    """Guards the other tests: the planted file really runs code under a plain pickle load."""
    path, marker = planted
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(
    "load",
    [
        lambda p: load_member(p, torch.device("cpu")),
        lambda p: TeacherEnsemble.from_checkpoints([p], torch.device("cpu")),
        lambda p: load_generator(p, torch.device("cpu")),
        lambda p: load_checkpoint(p),
    ],
    ids=["teacher-member", "teacher-ensemble", "generator", "any-checkpoint"],
)
def test_a_malicious_checkpoint_is_refused_without_running(planted: tuple[Path, Path], load) -> None:  # type: ignore[no-untyped-def]
    path, marker = planted
    with pytest.raises(UnsafeCheckpoint, match="refused to load"):
        load(path)
    assert not marker.exists()


def test_a_checkpoint_that_is_not_a_dictionary_is_refused(tmp_path: Path) -> None:
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(UnsafeCheckpoint, match="not a checkpoint dictionary"):
        load_checkpoint(tmp_path / "list.pt")


def test_no_loader_in_the_engine_unpickles_freely() -> None:
    root = Path(__file__).resolve().parents[3]
    offenders = [
        str(p.relative_to(root))
        for pkg in ("worker", "backend", "xclab", "cli", "dashboard")
        for p in (root / pkg).rglob("*.py")
        if "weights_only=False" in p.read_text()
    ]
    assert offenders == []


def test_a_saved_model_loads_safely_even_with_numpy_facts(tmp_path: Path) -> None:
    """A loader's numpy numbers in the data facts are stored as plain values, so teachers still load."""
    import numpy as np

    from worker.training.checkpoint import save_model
    from worker.training.data import TaskData
    from worker.training.models import build_model
    from xclab.hparams import Hparams
    from xclab.spec import RunSpec, resolve_hparams

    spec = RunSpec.model_validate(
        {"task": "digits", "model": {"name": "small-cnn", "width": 0.25}, "method": {"name": "erm"}}
    )
    model = build_model("small-cnn", num_outputs=10, width=0.25, input_shape=(1, 8, 8))
    data = TaskData(
        "classification", 10, train_x=torch.zeros(2, 1, 8, 8), info={"n": np.int64(3), "f": np.float32(0.5)}
    )
    path = save_model(
        tmp_path / "model.pt", spec, model, Hparams.model_validate(resolve_hparams(spec)), 10, data
    )
    member, state = load_member(path, torch.device("cpu"))
    assert state["data_info"] == {"n": 3, "f": 0.5} and isinstance(member, torch.nn.Module)
