"""scikit-learn's bundled 8x8 digits (1,797 images), under one of two protocols:

- fixed: a stratified 75/25 train/test split; `train_subset` draws a labelled subset from the 75 %.
- few-labels: train on `train_subset` images, validate on `val_size` images drawn from the rest, and test on
  every remaining image: few labels and a large test set (one image weighs little), where a teacher–student gap
  is wide enough to measure.

Both are fixed by `subset_seed` / `val_seed`, never by the run seed, so every run of a grid is scored on the same
images."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from worker.training.data import TaskData, register_loader
from worker.training.data.common import subset_size
from xclab.hparams import DataHparams
from xclab.spec import RunSpec

SPLIT_SEED = 0  # the fixed protocol's split never moves with the run seed
TEST_FRACTION = 0.25


def _tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


@register_loader("digits")
def load_digits_task(spec: RunSpec, hp: DataHparams) -> TaskData:
    digits = load_digits()
    images = (digits.images.astype(np.float32) / 16.0 - 0.5) / 0.5  # 0..16 -> -1..1
    labels = digits.target.astype(np.int64)
    if hp.digits_protocol == "few-labels":
        return _few_labels(images, labels, spec, hp)
    if hp.val_size:
        raise ValueError("val_size needs digits_protocol 'few-labels'; the fixed protocol takes val_fraction")
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels
    )
    subset = subset_size(spec, hp)
    if subset:
        if subset > len(x_train):
            raise ValueError(f"train_subset/limit={subset} exceeds the {len(x_train)} digits training images")
        # A stratified labelled subset, fixed by subset_seed (not the run seed) so that teachers and students
        # of one grid see the same labelled images.
        if subset < len(x_train):
            x_train, _, y_train, _ = train_test_split(
                x_train,
                y_train,
                train_size=subset,
                random_state=hp.subset_seed,
                stratify=y_train,
            )
    train_x, train_y = _tensors(x_train, y_train)
    test_x, test_y = _tensors(x_test, y_test)
    return TaskData(
        kind="classification",
        num_outputs=10,
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        info={"train_size": len(x_train), "test_size": len(x_test), "split_seed": SPLIT_SEED},
    )


def _few_labels(images: np.ndarray, labels: np.ndarray, spec: RunSpec, hp: DataHparams) -> TaskData:
    subset = subset_size(spec, hp)
    if not subset:
        raise ValueError("digits_protocol 'few-labels' needs train_subset (the number of labelled images)")
    if hp.val_fraction:
        raise ValueError("digits_protocol 'few-labels' takes val_size (images), not val_fraction")
    if subset + hp.val_size >= len(images) - 10:
        raise ValueError(
            f"train_subset {subset} + val_size {hp.val_size} leave too few of the {len(images)} digits to test on"
        )
    # Stratified draws (every class in each split), fixed by subset_seed and val_seed.
    x_train, x_rest, y_train, y_rest = train_test_split(
        images, labels, train_size=subset, random_state=hp.subset_seed, stratify=labels
    )
    val_x = val_y = None
    if hp.val_size:
        x_val, x_rest, y_val, y_rest = train_test_split(
            x_rest, y_rest, train_size=hp.val_size, random_state=hp.val_seed, stratify=y_rest
        )
        val_x, val_y = _tensors(x_val, y_val)
    train_x, train_y = _tensors(x_train, y_train)
    test_x, test_y = _tensors(x_rest, y_rest)
    return TaskData(
        kind="classification",
        num_outputs=10,
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        val_x=val_x,
        val_y=val_y,
        info={
            "protocol": "few-labels",
            "train_size": subset,
            "val_size": hp.val_size,
            "test_size": len(x_rest),
            "subset_seed": hp.subset_seed,
            "val_seed": hp.val_seed,
        },
    )
