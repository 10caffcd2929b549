"""Training methods and their parameters. A new method is an entry here (with its parameter model) plus one file
in `worker/training/methods/` that registers the implementation under the same name (a test pins the two)."""

from __future__ import annotations

import typing
from typing import Literal

from pydantic import Field

from xclab.catalog.info import MethodInfo, MethodParams


class LabelSmoothingParams(MethodParams):
    epsilon: float = Field(default=0.1, ge=0, lt=1, description="Probability mass moved off the true class.")


class ERMParams(MethodParams):
    loss: Literal["auto", "mse", "nll"] = Field(
        default="auto",
        description="Regression loss: 'nll' the Gaussian negative log-likelihood (needs a variance output), "
        "'mse' the squared error of the mean (a variance output stays untrained), 'auto' nll where the model "
        "predicts a variance, else mse. Classification: cross-entropy; leave at auto.",
    )


class MixParams(MethodParams):
    alpha: float = Field(default=1.0, ge=0, description="lambda ~ Beta(alpha, alpha); 0 turns mixing off.")


class DistillParams(MethodParams):
    temperature: float = Field(
        default=1.0, gt=0, description="T of softmax(z / T), teachers and student alike."
    )
    t2_factor: bool = Field(
        default=True,
        description="Multiply the KL by T^2 (Hinton et al.), so its gradients keep their scale as T grows; "
        "changes nothing at T = 1. false reproduces runs made before this default.",
    )


class KDParams(DistillParams):
    gt_weight: float = Field(
        default=0.0, ge=0, lt=1, description="Convex weight of a hard-label cross-entropy term (0: pure KL)."
    )


class TransferParams(DistillParams):
    batch_composition: Literal["half", "append"] = Field(
        default="half",
        description="half (the paper's): each transfer batch keeps the batch size B, the extra samples "
        "replacing part of the originals (mix_ratio 1 / gan_fraction 0.5: B/2 original + B/2 extra); append: "
        "the extra samples are added to the B originals (a larger transfer batch: more compute per step, "
        "reported as the transfer_ratio metric).",
    )


class XCLMixParams(TransferParams):
    mix: Literal["both", "mixup", "cutmix"] = Field(
        default="both", description="How the extra samples are mixed (both: a coin flip per batch)."
    )
    alpha: float = Field(default=1.0, ge=0, description="lambda ~ Beta(alpha, alpha).")
    mix_ratio: float = Field(
        default=1.0,
        ge=0,
        description="Mixed samples per original sample in the transfer batch; above 1, every further batch "
        "of mixes is drawn fresh (new lambda and partners), never a repeat.",
    )


class XCLGANParams(TransferParams):
    generator_run: int | None = Field(
        default=None, ge=1, description="Id of a finished `gan` run on the same task (classification tasks)."
    )
    mode: Literal["online", "offline"] = Field(
        default="online", description="Fresh samples every step, or a fixed pool labelled once."
    )
    gan_fraction: float = Field(
        default=0.5, gt=0, lt=1, description="Generated share of each transfer batch."
    )
    offline_size: int = Field(default=10_000, ge=1, description="offline: samples in the pool.")
    renderer: Literal["gap", "oracle"] = Field(
        default="gap",
        description="Gaze tasks: the eye renderer sampled. 'gap': a domain-gap variant (narrower appearance, "
        "flat light, no glints, no skin texture) that never drew the test persons. 'oracle': the renderer that "
        "made the synthetic-gaze test set, an oracle generator (upper bound), not a method result.",
    )


class GANParams(MethodParams):
    latent_dim: int = Field(default=32, ge=1, le=4096, description="Dimension of the generator's noise z.")


METHODS: dict[str, MethodInfo] = {
    m.name: m
    for m in [
        MethodInfo(
            "erm",
            False,
            "Empirical risk minimisation: cross-entropy; on regression (gaze) the Gaussian NLL or MSE (loss).",
            ERMParams,
        ),
        MethodInfo(
            "ls",
            False,
            "Label smoothing: 1-eps on the true class, eps/(c-1) elsewhere.",
            LabelSmoothingParams,
            needs_class_labels=True,
        ),
        MethodInfo("mixup", False, "MixUp with lambda ~ Beta(alpha, alpha) per batch.", MixParams),
        MethodInfo("cutmix", False, "CutMix with lambda ~ Beta(alpha, alpha) per batch.", MixParams),
        MethodInfo(
            "kd",
            True,
            "Knowledge distillation on the training batch from the averaged teacher ensemble; gt_weight is the "
            "convex weight of a hard-label cross-entropy term (0 = pure KL).",
            KDParams,
            transfer_set="original",
        ),
        MethodInfo(
            "xcl-mix",
            True,
            "XCL-Mix: the transfer set mixes the batch with MixUp/CutMix samples (mix_ratio mixed per original; "
            "batch_composition half: B/2 original + B/2 mixed, the paper's; append: B original + B mixed); the "
            "student matches the ensemble's distribution on all of it (KL).",
            XCLMixParams,
            transfer_set="extended",
        ),
        MethodInfo(
            "xcl-gan",
            True,
            "XCL-GAN: transfer set extended with generated samples (eye renderer for gaze, a generator run for "
            "classification), online (fresh every step) or offline (a fixed pool); gan_fraction of each "
            "transfer batch is generated.",
            XCLGANParams,
            uses_generator=True,
            transfer_set="extended",
        ),
        MethodInfo(
            "gan",
            False,
            "Train a class-conditional GAN (model cgan): a generator run for XCL-GAN.",
            GANParams,
            trains_generator=True,
            needs_class_labels=True,
        ),
    ]
}


def _choices() -> dict[str, tuple[str, ...]]:
    choices: dict[str, tuple[str, ...]] = {}
    for method in METHODS.values():
        for name, info in method.params_model.model_fields.items():
            if typing.get_origin(info.annotation) is Literal:
                values = typing.get_args(info.annotation)
                if choices.setdefault(name, values) != values:
                    raise ValueError(f"parameter '{name}' has different choices in different methods")
    return choices


# Allowed values of string-valued method parameters (derived from the parameter models).
METHOD_CHOICES: dict[str, tuple[str, ...]] = _choices()
