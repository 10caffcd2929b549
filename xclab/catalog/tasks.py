"""Tasks. A new one is an entry here plus a loader file in `worker/training/data/` (which, for a new regression
target, also registers the target's error function)."""

from __future__ import annotations

from xclab.catalog.info import RegressionTarget, TaskInfo, classification_task, regression_task

GAZE_TARGET = RegressionTarget(
    "gaze",
    2,
    "angular_error",
    "Gaze direction (pitch, yaw) in radians; error = angle between true and predicted direction, degrees.",
)
EYE_RENDERER = "eye-renderer"

TASKS: dict[str, TaskInfo] = {
    t.name: t
    for t in [
        classification_task("digits", 10, "scikit-learn's bundled 8x8 digits (1,797 images, 10 classes)."),
        regression_task(
            "synthetic-gaze",
            GAZE_TARGET,
            "Procedural 36x60 eye images with known gaze (pitch, yaw) for 15 synthetic persons; 3 held out.",
            builtin_generator=EYE_RENDERER,
        ),
        regression_task(
            "mpiigaze",
            GAZE_TARGET,
            "MPIIGaze normalized eye images (15 persons); needs the dataset.",
            builtin_generator=EYE_RENDERER,
        ),
        classification_task("cifar100", 100, "CIFAR-100 (python pickles, fine labels); needs the dataset."),
        classification_task("imagenet", 1000, "ImageNet train/val folders; needs the dataset."),
    ]
}
