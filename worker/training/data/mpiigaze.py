"""MPIIGaze: the real normalised eye images, from the original archive (.mat) or the common preprocessed h5.

Layouts (hparams `mpiigaze_format`: "mat", "h5" or "auto", the default, which takes whichever is there):
- "mat": the archive MPIIGaze.tar.gz unpacked, `Data/Normalized/pXX/dayYY.mat` (MATLAB v5: `data.left` /
  `data.right` structs with `gaze` [N, 3], `image` [N, 36, 60] uint8, `pose` [N, 3] Rodrigues; `filenames`
  [N] like "0069.jpg") plus `Evaluation Subset/sample list for eye image/pXX.txt` ("day08/0069.jpg left").
  hparams `mpiigaze_subset`: "evaluation" (default; the listed 3,000 images per person, 45,000 in all, as
  the paper) or "all" (every normalised image, both eyes).
- "h5": `MPIIGaze.h5` as written by hysts/pytorch_mpiigaze tools/preprocess_mpiigaze.py: groups p00..p14,
  each with `image` [N, 36, 60] uint8, `gaze` and `pose` [N, 2] float32 (pitch, yaw) radians, right eyes
  already flipped.

Right eyes are flipped horizontally and their yaws (gaze and head pose) negated, so every sample looks like a
left eye. Where the data is looked for: `data_path` (the MPIIGaze folder, or the .h5 file itself), else
`data_root`/MPIIGaze (with the h5 file also accepted as `data_root`/MPIIGaze.h5). Optional `cache_dir`
stores the assembled .mat subset as a .pt (reading ~600 .mat files is slow). Protocols: see gaze_protocol.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worker.training.data import TaskData, register_loader
from worker.training.data.common import DatasetNotFoundError, dataset_dir, shown
from worker.training.data.gaze_geometry import head_pose_to_pitchyaw, vector_to_pitchyaw
from worker.training.data.gaze_protocol import PersonSamples, gaze_task
from xclab.hparams import DataHparams
from xclab.spec import RunSpec

FOLDER = "MPIIGaze"
H5_NAME = "MPIIGaze.h5"
NORMALIZED = Path("Data") / "Normalized"
EVAL_LISTS = Path("Evaluation Subset") / "sample list for eye image"
PERSON_RE = re.compile(r"^p\d\d$")
CACHE_VERSION = 1


def _layout_help(folder: Path, h5_candidates: list[Path]) -> str:
    return (
        f"expected either the MPIIGaze archive layout {folder / NORMALIZED}/pXX/dayYY.mat plus "
        f"'{folder / EVAL_LISTS}/pXX.txt' (MPIIGaze.tar.gz unpacked), or the preprocessed HDF5 file "
        f"({' or '.join(str(p) for p in h5_candidates)}) with groups p00..p14 holding image [N,36,60] uint8, "
        "gaze [N,2] and pose [N,2] (pitch, yaw radians); set data_root or data_path to point elsewhere"
    )


def locate(hp: DataHparams) -> tuple[str, Path]:
    """(format, path): the MPIIGaze folder for "mat", the .h5 file for "h5"."""
    fmt = hp.mpiigaze_format
    folder = dataset_dir(hp, FOLDER)
    if folder.suffix == ".h5":
        h5_candidates = [folder]
    else:
        h5_candidates = [folder / H5_NAME]
        if not hp.data_path:
            h5_candidates.append(folder.parent / H5_NAME)
    has_mat = (folder / NORMALIZED).is_dir()
    h5_file = next((p for p in h5_candidates if p.is_file()), None)
    if fmt in ("auto", "mat") and has_mat:
        return "mat", folder
    if fmt in ("auto", "h5") and h5_file is not None:
        return "h5", h5_file
    wanted = {"auto": "MPIIGaze", "mat": "MPIIGaze .mat files", "h5": "MPIIGaze h5 file"}[fmt]
    raise DatasetNotFoundError(
        f"{wanted} not found: looked in {shown(folder)}; {_layout_help(folder, h5_candidates)}"
    )


def _as_rows(values: Any, width: tuple[int, ...]) -> np.ndarray:
    """Undo squeeze_me for days with a single sample (fields load as scalars / 2-D images)."""
    return np.asarray(values).reshape(-1, *width)


def read_day(path: Path) -> dict[str, Any]:
    """One dayYY.mat -> {"filenames": [N] str, "left"/"right": {"image", "gaze", "pose"} arrays}."""
    import scipy.io

    mat = scipy.io.loadmat(str(path), struct_as_record=False, squeeze_me=True)
    data = mat["data"]
    day: dict[str, Any] = {"filenames": np.atleast_1d(np.asarray(mat["filenames"])).astype(str)}
    for side in ("left", "right"):
        eye = getattr(data, side)
        day[side] = {
            "image": _as_rows(eye.image, (36, 60)).astype(np.uint8),
            "gaze": _as_rows(eye.gaze, (3,)).astype(np.float64),
            "pose": _as_rows(eye.pose, (3,)).astype(np.float64),
        }
    return day


def _to_samples(images: np.ndarray, gaze3: np.ndarray, rvec: np.ndarray, right: np.ndarray) -> PersonSamples:
    """Raw arrays -> left-eye-looking samples: right images mirrored, gaze/pose yaw negated."""
    images = np.where(right[:, None, None], images[:, :, ::-1], images)
    flip = torch.from_numpy(np.where(right, -1.0, 1.0)).float()
    gaze = vector_to_pitchyaw(torch.from_numpy(gaze3)).float()
    pose = head_pose_to_pitchyaw(torch.from_numpy(rvec)).float()
    gaze[:, 1] *= flip
    pose[:, 1] *= flip
    return PersonSamples(images=torch.from_numpy(np.ascontiguousarray(images)), gaze=gaze, pose=pose)


def _read_eval_list(path: Path) -> list[tuple[str, str, str]]:
    """Lines "day08/0069.jpg left" -> [(day, filename, side)]."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or "/" not in parts[0] or parts[1] not in ("left", "right"):
            raise ValueError(f"{path}:{number}: expected 'dayYY/NNNN.jpg left|right', got {line!r}")
        day, filename = parts[0].split("/", 1)
        rows.append((day, filename, parts[1]))
    return rows


def read_person_mat(folder: Path, person: str, subset: str) -> PersonSamples:
    person_dir = folder / NORMALIZED / person
    if subset == "all":
        images, gazes, poses, right = [], [], [], []
        for path in sorted(person_dir.glob("day*.mat")):
            day = read_day(path)
            for side in ("left", "right"):
                images.append(day[side]["image"])
                gazes.append(day[side]["gaze"])
                poses.append(day[side]["pose"])
                right.append(np.full(len(day[side]["image"]), side == "right"))
        if not images:
            raise DatasetNotFoundError(f"no dayYY.mat files in {person_dir}")
        return _to_samples(
            np.concatenate(images), np.concatenate(gazes), np.concatenate(poses), np.concatenate(right)
        )
    list_path = folder / EVAL_LISTS / f"{person}.txt"
    if not list_path.is_file():
        raise DatasetNotFoundError(
            f"MPIIGaze evaluation list not found: {list_path} (expected '{folder / EVAL_LISTS}/pXX.txt' from "
            "the archive; or set mpiigaze_subset='all' to use every normalised image)"
        )
    wanted = _read_eval_list(list_path)
    days: dict[str, dict[str, Any]] = {}
    index: dict[str, dict[str, int]] = {}
    for day_name in sorted({d for d, _, _ in wanted}):
        mat_path = person_dir / f"{day_name}.mat"
        if not mat_path.is_file():
            raise DatasetNotFoundError(f"{list_path} names {day_name} but {mat_path} does not exist")
        days[day_name] = read_day(mat_path)
        index[day_name] = {name: i for i, name in enumerate(days[day_name]["filenames"])}
    images, gazes, poses, right = [], [], [], []
    for day_name, filename, side in wanted:
        i = index[day_name].get(filename)
        if i is None:
            raise ValueError(
                f"{list_path}: {day_name}/{filename} is not in {person_dir / day_name}.mat filenames"
            )
        eye = days[day_name][side]
        images.append(eye["image"][i])
        gazes.append(eye["gaze"][i])
        poses.append(eye["pose"][i])
        right.append(side == "right")
    return _to_samples(np.stack(images), np.stack(gazes), np.stack(poses), np.array(right))


def read_mat(folder: Path, subset: str) -> dict[str, PersonSamples]:
    persons = sorted(
        p.name for p in (folder / NORMALIZED).iterdir() if p.is_dir() and PERSON_RE.match(p.name)
    )
    if not persons:
        raise DatasetNotFoundError(
            f"no person folders pXX in {folder / NORMALIZED}; {_layout_help(folder, [folder / H5_NAME])}"
        )
    return {p: read_person_mat(folder, p, subset) for p in persons}


def read_h5(path: Path) -> dict[str, PersonSamples]:
    import h5py

    samples = {}
    with h5py.File(path, "r") as f:
        persons = sorted(k for k in f if PERSON_RE.match(k))
        if not persons:
            raise DatasetNotFoundError(
                f"{path} has no person groups p00..p14 (found: {', '.join(f) or 'none'})"
            )
        for p in persons:
            group = f[p]
            missing = [k for k in ("image", "gaze", "pose") if k not in group]
            if missing:
                raise ValueError(f"{path}: group {p} lacks {', '.join(missing)} (expected image, gaze, pose)")
            images = np.asarray(group["image"][()], dtype=np.uint8)
            if images.shape[1:] != (36, 60):
                raise ValueError(f"{path}: {p}/image has shape {images.shape}, expected [N, 36, 60]")
            samples[p] = PersonSamples(
                images=torch.from_numpy(images),
                gaze=torch.from_numpy(np.asarray(group["gaze"][()], dtype=np.float32).reshape(-1, 2)),
                pose=torch.from_numpy(np.asarray(group["pose"][()], dtype=np.float32).reshape(-1, 2)),
            )
    return samples


def _cached(folder: Path, subset: str, cache_dir: str | None) -> dict[str, PersonSamples]:
    if not cache_dir:
        return read_mat(folder, subset)
    key = re.sub(r"[^A-Za-z0-9]+", "_", str(folder.resolve())).strip("_")[-80:]
    path = Path(cache_dir).expanduser() / f"mpiigaze-v{CACHE_VERSION}-{subset}-{key}.pt"
    if path.exists():
        raw = torch.load(path, map_location="cpu", weights_only=True)
        return {p: PersonSamples(**fields) for p, fields in raw.items()}
    samples = read_mat(folder, subset)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save({p: vars(s) for p, s in samples.items()}, tmp)
    os.replace(tmp, path)
    return samples


@register_loader("mpiigaze")
def load_mpiigaze(spec: RunSpec, hp: DataHparams) -> TaskData:
    fmt, path = locate(hp)
    subset = hp.mpiigaze_subset
    samples = _cached(path, subset, hp.cache_dir) if fmt == "mat" else read_h5(path)
    info = {"dataset": "mpiigaze", "format": fmt, "path": str(path), "persons": sorted(samples)}
    if fmt == "mat":
        info["subset"] = subset
    return gaze_task(samples, spec, hp, info)
