"""The digits loader's two protocols: the fixed 75/25 split, and few labels with a validation split and every
other image as the test set."""

from __future__ import annotations

import pytest
import torch

from worker.training.batches import Batches
from worker.training.data.digits import load_digits_task
from worker.training.streams import RunStreams
from xclab.hparams import DataHparams
from xclab.spec import RunSpec

SPEC = RunSpec.model_validate({"task": "digits", "model": {"name": "small-cnn"}, "method": {"name": "erm"}})


def _rows(x: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in x}


def test_fixed_protocol_is_unchanged_by_default() -> None:
    data = load_digits_task(SPEC, DataHparams(train_subset=300))
    assert (len(data.train_x), len(data.test_x), data.val_x) == (300, 450, None)


def test_few_labels_trains_on_the_subset_validates_on_val_size_and_tests_on_the_rest() -> None:
    hp = DataHparams(digits_protocol="few-labels", train_subset=150, val_size=200)
    data = load_digits_task(SPEC, hp)
    assert data.val_x is not None and data.val_y is not None
    assert (len(data.train_x), len(data.val_x), len(data.test_x)) == (150, 200, 1447)
    train, val, test = _rows(data.train_x), _rows(data.val_x), _rows(data.test_x)
    # Disjoint image sets (the digits data holds a few duplicate images; allow for those only).
    assert len(train & test) <= 2 and len(val & test) <= 2 and len(train & val) <= 2
    assert set(data.train_y.tolist()) == set(range(10))  # stratified: every class is labelled
    assert data.info == {
        "protocol": "few-labels", "train_size": 150, "val_size": 200, "test_size": 1447, "subset_seed": 0,
        "val_seed": 0,
    }  # fmt: skip
    again = load_digits_task(SPEC.model_copy(update={"seed": 5}), hp)
    assert torch.equal(again.test_x, data.test_x)  # the run seed never moves the split
    other = load_digits_task(SPEC, hp.model_copy(update={"val_seed": 1}))
    assert torch.equal(other.train_x, data.train_x) and not torch.equal(other.val_x, data.val_x)


def test_batches_use_the_loaders_validation_split() -> None:
    data = load_digits_task(SPEC, DataHparams(digits_protocol="few-labels", train_subset=150, val_size=200))
    batches = Batches(data, torch.device("cpu"), 32, RunStreams(0, torch.device("cpu")), workers=0)
    assert batches.has_val and batches.train_size == 150
    assert sum(len(x) for x, _ in batches.val()) == 200
    with pytest.raises(ValueError, match="drop val_fraction"):
        Batches(
            data, torch.device("cpu"), 32, RunStreams(0, torch.device("cpu")), workers=0, val_fraction=0.1
        )


@pytest.mark.parametrize(
    ("hp", "message"),
    [
        (DataHparams(digits_protocol="few-labels"), "needs train_subset"),
        (DataHparams(digits_protocol="few-labels", train_subset=150, val_fraction=0.1), "takes val_size"),
        (DataHparams(digits_protocol="few-labels", train_subset=900, val_size=1000), "too few"),
        (DataHparams(val_size=100), "needs digits_protocol 'few-labels'"),
    ],
)
def test_contradictory_options_are_refused_with_the_fix(hp: DataHparams, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_digits_task(SPEC, hp)
