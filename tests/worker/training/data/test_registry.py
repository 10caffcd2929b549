from __future__ import annotations

import pytest

from worker.training.data import LOADERS, load_task
from xclab.hparams import DataHparams
from xclab.spec import RunSpec


def test_every_dataset_has_a_loader() -> None:
    assert {"digits", "synthetic-gaze", "mpiigaze", "cifar100", "imagenet"} <= set(LOADERS.names())


def test_unknown_task_lists_the_loaders() -> None:
    with pytest.raises(ValueError, match="cifar100"):
        load_task(RunSpec(task="nope", model={"name": "small-cnn"}), DataHparams())
