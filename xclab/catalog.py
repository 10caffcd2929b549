"""What the engine offers, as plain data: tasks, models, methods and recipes.

The backend validates specs against this and serves it at /api/v1/catalog; the dashboard builds its forms
from that endpoint. The torch implementations in `worker.training` register under the same names, and a
test checks that every name listed here has an implementation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class PrimaryMetric:
    key: str
    goal: Literal["max", "min"]


@dataclass(frozen=True)
class TaskInfo:
    name: str
    kind: Literal["classification", "regression"]
    primary_metric: PrimaryMetric
    num_outputs: int
    description: str

    @property
    def regression(self) -> bool:
        return self.kind == "regression"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    tasks: tuple[str, ...]
    description: str
    scalable_width: bool = True


@dataclass(frozen=True)
class MethodInfo:
    name: str
    needs_teachers: bool
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    # Capabilities: code asks these instead of comparing method names.
    uses_generator: bool = False  # samples a generator (a `gan` run or the eye renderer) for its transfer set
    trains_generator: bool = False  # the run produces a generator, not a classifier or regressor
    needs_class_labels: bool = False  # meaningless on regression tasks
    # Where a distillation method's targets come from: the original batch, or a set extended beyond it.
    transfer_set: Literal["original", "extended"] | None = None


@dataclass(frozen=True)
class RecipeInfo:
    name: str
    task: str
    model: str
    description: str
    hparams: dict[str, Any]


GAZE_METRIC = PrimaryMetric("test_angular_error", "min")
TOP1 = PrimaryMetric("test_top1", "max")

TASKS: dict[str, TaskInfo] = {
    t.name: t
    for t in [
        TaskInfo(
            "digits",
            "classification",
            TOP1,
            10,
            "scikit-learn's bundled 8x8 digits (1,797 images, 10 classes).",
        ),
        TaskInfo(
            "synthetic-gaze",
            "regression",
            GAZE_METRIC,
            2,
            "Procedural 36x60 eye images with known gaze (pitch, yaw) for 15 synthetic persons; 3 held out.",
        ),
        TaskInfo(
            "mpiigaze",
            "regression",
            GAZE_METRIC,
            2,
            "MPIIGaze normalized eye images (15 persons); needs the dataset.",
        ),
        TaskInfo(
            "cifar100",
            "classification",
            TOP1,
            100,
            "CIFAR-100 (python pickles, fine labels); needs the dataset.",
        ),
        TaskInfo("imagenet", "classification", TOP1, 1000, "ImageNet train/val folders; needs the dataset."),
    ]
}

GAZE = ("synthetic-gaze", "mpiigaze")
CIFAR = ("cifar100",)

MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        ModelInfo(
            "small-cnn",
            ("digits",),
            "Three-layer CNN for 8x8 digits; width scales every layer; option binary=true makes the middle convs 1-bit.",
        ),
        ModelInfo(
            "lenet",
            GAZE,
            "4-layer LeNet gaze student; option uncertainty (default true) adds a variance output.",
        ),
        ModelInfo(
            "preact-resnet9", GAZE, "9-layer PreAct-ResNet gaze teacher; option uncertainty as for lenet."
        ),
        ModelInfo("resnet18-cifar", CIFAR, "ResNet-18 for 32x32 inputs (3x3 stem, no max-pool)."),
        ModelInfo(
            "pyramidnet", CIFAR, "PyramidNet with options depth (200) and alpha (240); bottleneck blocks."
        ),
        ModelInfo(
            "binary-resnet18",
            CIFAR,
            "ResNet-18 with 1-bit weights scaled per output channel (first/last layers and shortcuts full precision).",
        ),
        ModelInfo("resnet50", ("imagenet",), "torchvision ResNet-50, random init.", scalable_width=False),
        ModelInfo("resnet101", ("imagenet",), "torchvision ResNet-101, random init.", scalable_width=False),
        ModelInfo(
            "cgan",
            ("digits", "cifar100"),
            "Class-conditional GAN (one embedding per class) for XCL-GAN; train it with method gan.",
        ),
    ]
}

_DISTILL = {"temperature": 1.0, "t2_factor": False}

METHODS: dict[str, MethodInfo] = {
    m.name: m
    for m in [
        MethodInfo("erm", False, "Empirical risk minimisation: cross-entropy, or Gaussian NLL for gaze."),
        MethodInfo(
            "ls",
            False,
            "Label smoothing: 1-eps on the true class, eps/(c-1) elsewhere.",
            {"epsilon": 0.1},
            needs_class_labels=True,
        ),
        MethodInfo("mixup", False, "MixUp with lambda ~ Beta(alpha, alpha) per batch.", {"alpha": 1.0}),
        MethodInfo("cutmix", False, "CutMix with lambda ~ Beta(alpha, alpha) per batch.", {"alpha": 1.0}),
        MethodInfo(
            "kd",
            True,
            "Knowledge distillation on the training batch from the averaged teacher ensemble; gt_weight is the "
            "convex weight of a hard-label cross-entropy term (0 = pure KL).",
            {**_DISTILL, "gt_weight": 0.0},
            transfer_set="original",
        ),
        MethodInfo(
            "xcl-mix",
            True,
            "XCL-Mix: transfer set = batch + mix_ratio x batch MixUp/CutMix samples; the student matches the "
            "ensemble's distribution on all of it (KL).",
            {**_DISTILL, "mix": "both", "alpha": 1.0, "mix_ratio": 1.0},
            transfer_set="extended",
        ),
        MethodInfo(
            "xcl-gan",
            True,
            "XCL-GAN: transfer set extended with generated samples (eye renderer for gaze, a generator run for "
            "classification), online (fresh every step) or offline (a fixed pool); gan_fraction of each "
            "transfer batch is generated.",
            {**_DISTILL, "generator_run": None, "mode": "online", "gan_fraction": 0.5, "offline_size": 10000},
            uses_generator=True,
            transfer_set="extended",
        ),
        MethodInfo(
            "gan",
            False,
            "Train a class-conditional GAN (model cgan): a generator run for XCL-GAN.",
            {"latent_dim": 32},
            trains_generator=True,
            needs_class_labels=True,
        ),
    ]
}

# Allowed values of string-valued method parameters.
METHOD_CHOICES: dict[str, tuple[str, ...]] = {
    "mix": ("both", "mixup", "cutmix"),
    "mode": ("online", "offline"),
}

# Hyperparameters a recipe sets and a spec may override, with their types.
HPARAM_TYPES: dict[str, type] = {
    "epochs": int,
    "batch_size": int,
    "lr": float,
    "momentum": float,
    "weight_decay": float,
    "weight_decay_xcl": float,
    "optimizer": str,
    "schedule": str,
    "lr_milestones": list,
    "lr_gamma": float,
    "warmup_epochs": float,
    "warmup_start_lr": float,
    "train_subset": int,
    "subset_seed": int,
    "split_seed": int,
    "val_fraction": float,
    "val_seed": int,
    "checkpoint_every": int,
    "workers": int,
    "data_root": str,
    "data_path": str,
    "samples_per_person": int,
    "protocol": str,
    "holdout_person": int,
    "mpiigaze_format": str,
    "cache_dir": str,
}

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


def catalog_dict() -> dict[str, Any]:
    """The catalog in the shape of GET /api/v1/catalog."""
    return {
        "tasks": [asdict(t) for t in TASKS.values()],
        "models": [{**asdict(m), "tasks": list(m.tasks)} for m in MODELS.values()],
        "methods": [asdict(m) for m in METHODS.values()],
        "recipes": [asdict(r) for r in RECIPES.values()],
    }
