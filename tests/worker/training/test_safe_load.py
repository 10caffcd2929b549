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
