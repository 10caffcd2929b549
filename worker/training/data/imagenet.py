"""ImageNet (ILSVRC-2012) from class folders: `imagenet/train/<wnid>/*.JPEG`, `imagenet/val/<wnid>/*.JPEG`.

Too big for memory, so the task comes as torch Datasets decoded by DataLoader workers. Training transforms are
the paper's (App. A.5): random resized crop 224, horizontal flip, colour jitter 0.4, AlexNet PCA lighting
noise, normalise; test: resize 256, centre crop 224, normalise. The raw validation set is one flat folder and
must first be sorted into <wnid> folders (e.g. with the valprep.sh script of pytorch/examples).

ImageNetV2 (Recht et al. 2019), where present beside it (`imagenetv2/` next to the `imagenet/` folder), is
evaluated as extra test sets: the three variants as their tarballs unpack, `imagenetv2-matched-frequency-
format-val`, `imagenetv2-threshold0.7-format-val` and `imagenetv2-top-images-format-val`, each with class
folders named by the class index 0..999 (the position of the class in the sorted wnids), not by wnid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Subset

from worker.training.data import TaskData, register_loader
from worker.training.data.common import DatasetNotFoundError, dataset_dir, shown, subset_indices
from xclab.hparams import DataHparams
from xclab.spec import RunSpec

FOLDER = "imagenet"
V2_FOLDER = "imagenetv2"
# metric prefix -> the folder the variant's tarball unpacks to (the supplement's V2-A, V2-B, V2-C columns)
V2_VARIANTS = {
    "imagenetv2_matched_frequency": "imagenetv2-matched-frequency-format-val",
    "imagenetv2_threshold_0.7": "imagenetv2-threshold0.7-format-val",
    "imagenetv2_top_images": "imagenetv2-top-images-format-val",
}
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# The ImageNet RGB covariance's principal components, as used since AlexNet (fb.resnet.torch, timm, ...).
PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
PCA_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)
LIGHTING_STD = 0.1
JITTER = 0.4


class Lighting:
    """AlexNet-style PCA lighting noise on a [3, H, W] tensor in [0, 1]: adds eigvec @ (alpha * eigval) to
    every pixel, alpha ~ N(0, std) per image (fresh per call; DataLoader workers seed torch per worker)."""

    def __init__(self, std: float = LIGHTING_STD) -> None:
        self.std = std
        self.eigval = torch.tensor(PCA_EIGVAL)
        self.eigvec = torch.tensor(PCA_EIGVEC)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if self.std == 0:
            return img
        alpha = torch.randn(3) * self.std
        rgb = self.eigvec @ (alpha * self.eigval)
        return img + rgb.view(3, 1, 1).to(img.dtype)

    def __repr__(self) -> str:
        return f"Lighting(std={self.std})"


def train_transform(size: int = 224) -> Any:
    from torchvision import transforms as T

    return T.Compose(
        [
            T.RandomResizedCrop(size),
            T.RandomHorizontalFlip(),
            T.ColorJitter(brightness=JITTER, contrast=JITTER, saturation=JITTER),
            T.ToTensor(),
            Lighting(LIGHTING_STD),
            T.Normalize(MEAN, STD),
        ]
    )


def test_transform(size: int = 224) -> Any:
    from torchvision import transforms as T

    return T.Compose(
        [T.Resize(round(size * 256 / 224)), T.CenterCrop(size), T.ToTensor(), T.Normalize(MEAN, STD)]
    )


def _image_folder(root: Path, transform: Any, classes: list[str] | None = None) -> Any:
    """An ImageFolder; with `classes`, targets are re-indexed to the training set's classes, so a validation
    folder with fewer classes still scores against the right outputs."""
    from torchvision.datasets import ImageFolder

    dataset = ImageFolder(str(root), transform=transform)
    if classes is None or dataset.classes == classes:
        return dataset
    unknown = sorted(set(dataset.classes) - set(classes))
    if unknown:
        raise ValueError(
            f"{root} has class folders not in the training set: {', '.join(unknown[:5])}"
            f"{' ...' if len(unknown) > 5 else ''}"
        )
    index = {c: i for i, c in enumerate(classes)}
    remap = [index[c] for c in dataset.classes]
    dataset.samples = [(path, remap[t]) for path, t in dataset.samples]
    dataset.imgs = dataset.samples
    dataset.targets = [t for _, t in dataset.samples]
    dataset.classes, dataset.class_to_idx = list(classes), index
    return dataset


def _indexed_folder(root: Path, transform: Any, num_classes: int) -> Any:
    """An ImageFolder whose class folders are named by class index ("0".."999"): ImageFolder sorts the names
    as strings ("10" before "2"), so targets are mapped back to the index each folder names."""
    from torchvision.datasets import ImageFolder

    dataset = ImageFolder(str(root), transform=transform)
    bad = [c for c in dataset.classes if not c.isdigit() or int(c) >= num_classes]
    if bad:
        raise ValueError(
            f"{root}: class folders must be class indices 0..{num_classes - 1} (ImageNetV2 layout); found "
            f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}"
        )
    remap = [int(c) for c in dataset.classes]
    dataset.samples = [(path, remap[t]) for path, t in dataset.samples]
    dataset.imgs = dataset.samples
    dataset.targets = [t for _, t in dataset.samples]
    return dataset


def imagenetv2_sets(root: Path, transform: Any, num_classes: int) -> dict[str, Any]:
    """The ImageNetV2 variants found under `root`, by metric prefix (none: an empty dict)."""
    return {
        prefix: _indexed_folder(root / folder, transform, num_classes)
        for prefix, folder in V2_VARIANTS.items()
        if (root / folder).is_dir()
    }


@register_loader("imagenet")
def load_imagenet(spec: RunSpec, hp: DataHparams) -> TaskData:
    folder = dataset_dir(hp, FOLDER)
    missing = [name for name in ("train", "val") if not (folder / name).is_dir()]
    if missing:
        raise DatasetNotFoundError(
            f"ImageNet not found: looked in {shown(folder)} (missing {', '.join(missing)}); expected "
            f"{folder}/train/<wnid>/*.JPEG and {folder}/val/<wnid>/*.JPEG (ILSVRC-2012 with the validation "
            "images sorted into class folders); set data_root or data_path to point elsewhere"
        )
    size = hp.image_size
    try:
        train = _image_folder(folder / "train", train_transform(size))
        test = _image_folder(folder / "val", test_transform(size), classes=train.classes)
    except FileNotFoundError as e:  # ImageFolder's "Couldn't find any class folder" / "Found no valid file"
        raise DatasetNotFoundError(f"ImageNet under {folder}: {e}") from e
    num_classes = len(train.classes)
    try:
        extra = imagenetv2_sets(folder.parent / V2_FOLDER, test_transform(size), num_classes)
    except FileNotFoundError as e:
        raise DatasetNotFoundError(f"ImageNetV2 under {folder.parent / V2_FOLDER}: {e}") from e
    train_size = len(train)
    subset = subset_indices(train_size, spec, hp)
    if subset is not None:
        train = Subset(train, subset.tolist())
    return TaskData(
        kind="classification",
        num_outputs=num_classes,
        train_dataset=train,
        test_dataset=test,
        extra_test_datasets=extra,
        info={
            "dataset": "imagenet",
            "path": str(folder),
            "num_classes": num_classes,
            "train_size": len(train),  # type: ignore[arg-type]
            "test_size": len(test),  # type: ignore[arg-type]
            "image_size": size,
            "extra_test_sets": {prefix: len(ds) for prefix, ds in extra.items()},
        },
    )
