"""Recipes: the paper's hyperparameters per task and model, as flat `Hparams` fields (a test validates each)."""

from __future__ import annotations

from typing import Any

from xclab.catalog.info import RecipeInfo

_QUICK = {"momentum": 0.9, "checkpoint_every": 1, "train_subset": 0}
# App. A.1, shared by the gaze student and teacher (they differ only in learning rate).
_GAZE_PAPER = {
    "epochs": 40,
    "batch_size": 32,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "optimizer": "adam",
    "schedule": "step",
    "lr_milestones": [30, 36],
    "lr_gamma": 0.1,
    "checkpoint_every": 1,
    "train_subset": 0,
}


def _recipe(name: str, task: str, model: str, description: str, **hparams: Any) -> RecipeInfo:
    return RecipeInfo(name, task, model, description, hparams)


RECIPES: dict[str, RecipeInfo] = {
    r.name: r
    for r in [
        _recipe(
            "digits-quick",
            "digits",
            "small-cnn",
            "Seconds on two CPU cores; SGD, cosine decay.",
            epochs=10,
            batch_size=64,
            lr=0.05,
            weight_decay=5e-4,
            optimizer="sgd",
            schedule="cosine",
            **_QUICK,
        ),
        _recipe(
            "digits-gan",
            "digits",
            "cgan",
            "Generator run for XCL-GAN on digits (Adam 2e-4, hinge loss).",
            epochs=40,
            batch_size=64,
            lr=2e-4,
            weight_decay=0.0,
            optimizer="adam",
            schedule="constant",
            **_QUICK,
        ),
        _recipe(
            "cifar100-gan",
            "cifar100",
            "cgan",
            "Generator run for XCL-GAN on CIFAR-100 (Adam 2e-4, hinge loss).",
            epochs=100,
            batch_size=128,
            lr=2e-4,
            weight_decay=0.0,
            optimizer="adam",
            schedule="constant",
            **_QUICK,
        ),
        _recipe(
            "gaze-quick",
            "synthetic-gaze",
            "lenet",
            "Minutes on two CPU cores: Adam 1e-3, x0.1 at epochs 10 and 11.",
            epochs=12,
            batch_size=64,
            lr=1e-3,
            weight_decay=1e-4,
            optimizer="adam",
            schedule="step",
            lr_milestones=[10, 11],
            lr_gamma=0.1,
            samples_per_person=150,
            **_QUICK,
        ),
        _recipe(
            "gaze-lenet",
            "mpiigaze",
            "lenet",
            "Paper App. A.1 student: Adam 1e-4, x0.1 at 30 and 36, 40 epochs, batch 32.",
            lr=1e-4,
            **_GAZE_PAPER,
        ),
        _recipe(
            "gaze-preact-resnet",
            "mpiigaze",
            "preact-resnet9",
            "Paper App. A.1 teacher: as gaze-lenet with lr 1e-3.",
            lr=1e-3,
            **_GAZE_PAPER,
        ),
        _recipe(
            "cifar100-resnet18",
            "cifar100",
            "resnet18-cifar",
            "Paper App. A.2: SGD-Nesterov 0.1, /5 at 120, 240, 320; wd 5e-4; 400 epochs; batch 128.",
            epochs=400,
            batch_size=128,
            lr=0.1,
            momentum=0.9,
            weight_decay=5e-4,
            optimizer="sgd",
            schedule="step",
            lr_milestones=[120, 240, 320],
            lr_gamma=0.2,
            checkpoint_every=5,
            train_subset=0,
        ),
        _recipe(
            "cifar100-pyramidnet200",
            "cifar100",
            "pyramidnet",
            "Paper App. A.3: depth 200, alpha 240; SGD-Nesterov 0.25, x0.1 at 150, 225; wd 1e-4; 300 epochs; batch 64.",
            epochs=300,
            batch_size=64,
            lr=0.25,
            momentum=0.9,
            weight_decay=1e-4,
            optimizer="sgd",
            schedule="step",
            lr_milestones=[150, 225],
            lr_gamma=0.1,
            checkpoint_every=5,
            train_subset=0,
        ),
        _recipe(
            "cifar100-binary-resnet18",
            "cifar100",
            "binary-resnet18",
            "Paper App. A.4: Adam 2e-4, x0.1 at 150, 250; wd 0; 350 epochs; batch 128.",
            epochs=350,
            batch_size=128,
            lr=2e-4,
            momentum=0.9,
            weight_decay=0.0,
            optimizer="adam",
            schedule="step",
            lr_milestones=[150, 250],
            lr_gamma=0.1,
            checkpoint_every=5,
            train_subset=0,
        ),
        *[
            _recipe(
                f"imagenet-{arch}",
                "imagenet",
                arch,
                "Paper App. A.5: SGD-Nesterov, warm-up 0.1 -> 0.4 over 5 epochs then cosine to 0; wd 1e-4 "
                "(1e-5 for XCL methods); 300 epochs; batch 1024.",
                epochs=300,
                batch_size=1024,
                lr=0.4,
                warmup_start_lr=0.1,
                warmup_epochs=5,
                momentum=0.9,
                weight_decay=1e-4,
                weight_decay_xcl=1e-5,
                optimizer="sgd",
                schedule="warmup-cosine",
                checkpoint_every=1,
                train_subset=0,
                workers=8,
            )
            for arch in ("resnet50", "resnet101")
        ],
    ]
}

# The recipe used when a spec names none.
DEFAULT_RECIPE_FOR_TASK: dict[str, str] = {
    "digits": "digits-quick",
    "synthetic-gaze": "gaze-quick",
    "mpiigaze": "gaze-lenet",
    "cifar100": "cifar100-resnet18",
    "imagenet": "imagenet-resnet50",
}
