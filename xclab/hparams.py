"""Typed training hyperparameters: every field a recipe sets or a spec may override, with its type, bounds and
default, in one place. A run stores them as a flat JSON dict (recipe + overrides); the engine validates that
dict once with `Hparams.model_validate` and reads attributes from then on."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Optimizer = Literal["sgd", "adam", "adamw"]
Schedule = Literal["constant", "cosine", "step", "warmup-cosine"]
GazeProtocol = Literal["paper", "leave-one-out", "leave-one-person-out"]

# Strict: JSON specs must say 3, not "3" or 3.0, for an integer; a float field still takes an integer.
STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class DataHparams(BaseModel):
    """The fields the dataset loaders read."""

    model_config = STRICT

    data_root: str | None = Field(
        default=None,
        description="Folder holding the datasets; default: the worker's data folder, else 'data'.",
    )
    data_path: str | None = Field(
        default=None, description="The dataset's exact folder (or file); wins over data_root."
    )
    cache_dir: str | None = Field(
        default=None,
        description="Where slow-to-build datasets are cached; default: the worker's cache folder.",
    )
    train_subset: int = Field(default=0, ge=0, description="Train on this many samples (0: all).")
    subset_seed: int = Field(default=0, ge=0, description="Fixes which samples a training subset holds.")
    split_seed: int | None = Field(
        default=None, ge=0, description="Seed of the person split; default: the run seed."
    )
    val_fraction: float = Field(
        default=0.0, ge=0, le=0.9, description="Validation share carved from training."
    )
    val_seed: int = Field(default=0, ge=0, description="Fixes the validation split.")
    digits_protocol: Literal["fixed", "few-labels"] = Field(
        default="fixed",
        description="digits: 'fixed' = a stratified 75/25 train/test split (train_subset draws from the 75 %); "
        "'few-labels' = train on train_subset images, validate on val_size others, test on all the rest.",
    )
    val_size: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="digits few-labels: validation images drawn from the unused ones.",
    )
    protocol: GazeProtocol = Field(
        default="paper", description="Gaze person split: 3 of 15 held out, or one."
    )
    holdout_person: int | str | None = Field(
        default=None,
        description="leave-one-out: the held-out person (index or 'pXX'); default: seed mod #persons.",
    )
    samples_per_person: int = Field(default=3000, ge=1, description="synthetic-gaze: images per person.")
    num_persons: int = Field(default=15, ge=2, description="synthetic-gaze: persons rendered.")
    dataset_seed: int = Field(default=20_210, ge=0, description="synthetic-gaze: fixes the rendered dataset.")
    mpiigaze_format: Literal["auto", "mat", "h5"] = Field(default="auto", description="MPIIGaze file layout.")
    mpiigaze_subset: Literal["evaluation", "all"] = Field(
        default="evaluation",
        description="MPIIGaze .mat: the evaluation list (3,000 per person) or every image.",
    )
    image_size: int = Field(default=224, ge=16, le=1024, description="ImageNet crop size.")


class Hparams(DataHparams):
    """Everything a run trains with besides the spec itself."""

    epochs: int = Field(ge=1, le=10_000)
    batch_size: int = Field(ge=1, le=65_536)
    lr: float = Field(gt=0, description="Peak learning rate.")
    momentum: float = Field(default=0.9, ge=0, lt=1, description="SGD momentum, or Adam's beta1.")
    weight_decay: float = Field(default=0.0, ge=0)
    weight_decay_xcl: float | None = Field(
        default=None, ge=0, description="Replaces weight_decay for methods with an extended transfer set."
    )
    optimizer: Optimizer
    schedule: Schedule
    lr_milestones: list[float] = Field(default_factory=list, description="step: epochs where lr decays.")
    lr_gamma: float = Field(default=0.1, gt=0, description="step: lr factor at each milestone.")
    warmup_epochs: float = Field(default=0.0, ge=0, description="warmup-cosine: linear warm-up length.")
    warmup_start_lr: float | None = Field(default=None, ge=0, description="warmup-cosine: lr at epoch 0.")
    checkpoint_every: int = Field(default=1, ge=1, description="Epochs between checkpoints.")
    eval_every: int = Field(
        default=1,
        ge=1,
        le=10_000,
        description="Epochs between test/validation evaluations; the last epoch is always evaluated (small "
        "training sets with large test sets spend most of their time evaluating).",
    )
    workers: int = Field(default=4, ge=0, le=64, description="DataLoader workers (ImageNet-sized tasks).")
    threads: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Intra-op CPU threads of the run: part of what fixes its numbers (a reduction split over "
        "other thread counts can differ in the last bit), so the worker does not choose it.",
    )
    deterministic: bool = Field(
        default=False,
        description="CUDA: deterministic kernels only (slower); the run records ops that have none. CPU runs "
        "are always deterministic.",
    )
    # Written by resolve_hparams, not overridable.
    recipe: str | None = None
    method_params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _schedule_has_its_settings(self) -> Hparams:
        if self.schedule == "step" and not self.lr_milestones:
            raise ValueError("schedule 'step' needs lr_milestones (epochs where the lr decays)")
        if self.schedule == "warmup-cosine" and self.warmup_epochs > 0 and self.warmup_start_lr is None:
            raise ValueError("schedule 'warmup-cosine' with warmup_epochs > 0 needs warmup_start_lr")
        return self

    def with_folders(self, data_root: Any = None, cache_dir: Any = None) -> Hparams:
        """The worker's own data and cache folders, where the spec names none (a spec's choice wins)."""
        update = {}
        if self.data_root is None and data_root is not None:
            update["data_root"] = str(data_root)
        if self.cache_dir is None and cache_dir is not None:
            update["cache_dir"] = str(cache_dir)
        return self.model_copy(update=update) if update else self


NOT_OVERRIDABLE = frozenset({"recipe", "method_params"})
OVERRIDABLE = tuple(name for name in Hparams.model_fields if name not in NOT_OVERRIDABLE)


def _plain_type(annotation: Any) -> type:
    """int | None -> int, Literal["a"] -> str, list[float] -> list: the JSON-level type of a field."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return _plain_type(next(a for a in typing.get_args(annotation) if a is not type(None)))
    return origin or annotation


# Hyperparameters a spec may override, with their JSON types (derived, for clients that build forms).
HPARAM_TYPES: dict[str, type] = {
    name: _plain_type(Hparams.model_fields[name].annotation) for name in OVERRIDABLE
}
