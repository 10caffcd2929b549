"""scikit-learn's bundled 8x8 digits: a fixed stratified split, so every run is scored on the same test set."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from worker.training.data import TaskData, register_loader
from worker.training.data.common import subset_size
from xclab.hparams import DataHparams
from xclab.spec import RunSpec

SPLIT_SEED = 0  # the split never moves with the run seed
TEST_FRACTION = 0.25


@register_loader("digits")
def load_digits_task(spec: RunSpec, hp: DataHparams) -> TaskData:
    digits = load_digits()
    images = (digits.images.astype(np.float32) / 16.0 - 0.5) / 0.5  # 0..16 -> -1..1
    labels = digits.target.astype(np.int64)
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
    return TaskData(
        kind="classification",
        num_outputs=10,
        train_x=torch.from_numpy(x_train).unsqueeze(1),
        train_y=torch.from_numpy(y_train),
        test_x=torch.from_numpy(x_test).unsqueeze(1),
        test_y=torch.from_numpy(y_test),
        info={"train_size": len(x_train), "test_size": len(x_test), "split_seed": SPLIT_SEED},
    )
