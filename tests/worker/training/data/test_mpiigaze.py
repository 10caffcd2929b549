"""MPIIGaze loader on tiny copies of the real layouts: the archive's .mat files + evaluation lists, and the
preprocessed h5 file."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import torch
from scipy.spatial.transform import Rotation

from worker.training.data import load_task
from worker.training.data.common import DatasetNotFoundError
from worker.training.data.mpiigaze import read_day
from xclab.hparams import DataHparams
from xclab.spec import RunSpec

PERSONS = [f"p{i:02d}" for i in range(15)]
DAYS = {"day01": 4, "day02": 1}  # day02 holds one sample: scipy squeezes its fields to scalars / 2-D arrays


def spec(seed: int = 0) -> RunSpec:
    return RunSpec(task="mpiigaze", model={"name": "lenet"}, seed=seed)


def gaze_vector(pitch: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    return np.stack([-np.cos(pitch) * np.sin(yaw), -np.sin(pitch), -np.cos(pitch) * np.cos(yaw)], -1)


def eye(rng: np.random.RandomState, n: int) -> dict[str, np.ndarray]:
    return {
        "gaze": gaze_vector(rng.uniform(-0.5, 0.2, n), rng.uniform(-0.5, 0.5, n)),  # MATLAB doubles
        "image": rng.randint(0, 256, (n, 36, 60)).astype(np.uint8),
        "pose": rng.normal(scale=0.2, size=(n, 3)),
    }


def write_mat_dataset(root: Path) -> dict[str, dict[str, dict[str, dict[str, np.ndarray]]]]:
    """MPIIGaze/Data/Normalized/pXX/dayYY.mat and the evaluation lists; returns the raw arrays written."""
    rng = np.random.RandomState(0)
    written: dict[str, dict[str, dict[str, dict[str, np.ndarray]]]] = {}
    lists = root / "Evaluation Subset" / "sample list for eye image"
    lists.mkdir(parents=True)
    for person in PERSONS:
        folder = root / "Data" / "Normalized" / person
        folder.mkdir(parents=True)
        written[person] = {}
        lines = []
        for day, n in DAYS.items():
            data = {"left": eye(rng, n), "right": eye(rng, n)}
            # MATLAB writes filenames as an N x 1 cell array of char.
            names = np.empty((n, 1), dtype=object)
            for i in range(n):
                names[i, 0] = f"{i + 1:04d}.jpg"
            scipy.io.savemat(folder / f"{day}.mat", {"data": data, "filenames": names})
            written[person][day] = data
            # The list selects some samples (not all) and mixes eyes, in its own order.
            for i in range(n - 1, -1, -1):
                if n > 1 and i == 1:
                    continue
                lines.append(f"{day}/{i + 1:04d}.jpg {'right' if i % 2 == 0 else 'left'}")
        (lists / f"{person}.txt").write_text("\n".join(lines) + "\n")
    return written


def expected_pitchyaw(gaze: np.ndarray) -> np.ndarray:
    x, y, z = gaze
    return np.array([np.arcsin(-y), np.arctan2(-x, -z)])


def expected_pose(rvec: np.ndarray) -> np.ndarray:
    v = Rotation.from_rotvec(rvec).as_matrix()[:, 2]
    return np.array([np.arcsin(v[1]), np.arctan2(v[0], v[2])])


def test_fixture_reads_back_like_the_real_files(tmp_path: Path) -> None:
    write_mat_dataset(tmp_path / "MPIIGaze")
    folder = tmp_path / "MPIIGaze" / "Data" / "Normalized" / "p00"
    mat = scipy.io.loadmat(folder / "day01.mat", struct_as_record=False, squeeze_me=True)
    assert isinstance(mat["data"], scipy.io.matlab.mat_struct)
    assert mat["data"].left.image.shape == (4, 36, 60) and mat["data"].left.image.dtype == np.uint8
    assert mat["data"].right.gaze.shape == (4, 3) and mat["data"].right.pose.shape == (4, 3)
    assert list(mat["filenames"]) == ["0001.jpg", "0002.jpg", "0003.jpg", "0004.jpg"]
    single = scipy.io.loadmat(folder / "day02.mat", struct_as_record=False, squeeze_me=True)
    assert single["data"].left.image.shape == (36, 60) and single["data"].left.gaze.shape == (3,)
    assert isinstance(single["filenames"], str)
    day = read_day(folder / "day02.mat")
    assert day["left"]["image"].shape == (1, 36, 60) and list(day["filenames"]) == ["0001.jpg"]


def test_mat_evaluation_subset_flips_right_eyes(tmp_path: Path) -> None:
    written = write_mat_dataset(tmp_path / "MPIIGaze")
    data = load_task(
        spec(), DataHparams(data_root=str(tmp_path), protocol="leave-one-out", holdout_person="p03")
    )
    info = data.info or {}
    assert info["format"] == "mat" and info["test_persons"] == ["p03"] and len(info["train_persons"]) == 14
    # Per person the list names day01/0004 left, day01/0003 right, day01/0001 right, day02/0001 right.
    order = [("day01", 3, "left"), ("day01", 2, "right"), ("day01", 0, "right"), ("day02", 0, "right")]
    assert data.test_x.shape == (4, 1, 37, 60) and data.test_x.dtype == torch.uint8  # + head-pose row
    assert data.train_x.shape == (14 * 4, 1, 37, 60)
    for k, (day, i, side) in enumerate(order):
        raw = written["p03"][day][side]
        image, gaze, pose = raw["image"][i], expected_pitchyaw(raw["gaze"][i]), expected_pose(raw["pose"][i])
        if side == "right":
            image, gaze, pose = image[:, ::-1], gaze * [1, -1], pose * [1, -1]
        assert np.array_equal(data.test_x[k, 0, :36].numpy(), image), (k, side)
        assert np.allclose(data.test_y[k].numpy(), gaze, atol=1e-6)
        assert np.allclose(data.test_aux[k].numpy(), pose, atol=1e-6)


def test_mat_all_subset_and_paper_protocol(tmp_path: Path) -> None:
    write_mat_dataset(tmp_path / "MPIIGaze")
    hparams = DataHparams(data_path=str(tmp_path / "MPIIGaze"), mpiigaze_format="mat", mpiigaze_subset="all")
    data = load_task(spec(1), hparams)
    info = data.info or {}
    assert len(info["train_persons"]) == 12 and len(info["test_persons"]) == 3
    per_person = 2 * sum(DAYS.values())  # both eyes of every sample
    assert len(data.train_x) == 12 * per_person and len(data.test_x) == 3 * per_person
    other = load_task(spec(2), hparams).info or {}
    assert other["test_persons"] != info["test_persons"]


def test_mat_cache(tmp_path: Path) -> None:
    write_mat_dataset(tmp_path / "MPIIGaze")
    hparams = DataHparams(data_root=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    first = load_task(spec(), hparams)
    assert len(list((tmp_path / "cache").glob("mpiigaze-*.pt"))) == 1
    second = load_task(spec(), hparams)
    assert torch.equal(first.train_x, second.train_x) and torch.equal(first.test_aux, second.test_aux)


def write_h5(path: Path, n: int = 5) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.RandomState(1)
    written = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for person in PERSONS:
            arrays = {
                "image": rng.randint(0, 256, (n, 36, 60)).astype(np.uint8),
                "pose": rng.uniform(-0.3, 0.3, (n, 2)).astype(np.float32),
                "gaze": rng.uniform(-0.5, 0.5, (n, 2)).astype(np.float32),
            }
            for key, value in arrays.items():
                f.create_dataset(f"{person}/{key}", data=value)
            written[person] = arrays
    return written


def test_h5_layout(tmp_path: Path) -> None:
    written = write_h5(tmp_path / "MPIIGaze" / "MPIIGaze.h5")
    data = load_task(spec(), DataHparams(data_root=str(tmp_path)))  # auto-detected
    info = data.info or {}
    assert info["format"] == "h5" and len(info["train_persons"]) == 12 and len(info["test_persons"]) == 3
    first = info["test_persons"][0]
    assert np.array_equal(
        data.test_x[:5, 0, :36].numpy(), written[first]["image"]
    )  # already flipped: kept as is
    assert np.array_equal(data.test_y[:5].numpy(), written[first]["gaze"])
    assert np.array_equal(data.test_aux[:5].numpy(), written[first]["pose"])
    # The file itself as data_path, format forced.
    direct = load_task(
        spec(), DataHparams(data_path=str(tmp_path / "MPIIGaze" / "MPIIGaze.h5"), mpiigaze_format="h5")
    )
    assert torch.equal(direct.test_x, data.test_x)


def test_h5_next_to_data_root(tmp_path: Path) -> None:
    write_h5(tmp_path / "MPIIGaze.h5", n=2)  # hysts keeps it as datasets/MPIIGaze.h5
    data = load_task(spec(), DataHparams(data_root=str(tmp_path), mpiigaze_format="h5"))
    assert len(data.train_x) == 24


def test_missing_data_names_path_and_layouts(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as err:
        load_task(spec(), DataHparams(data_root=str(tmp_path / "nowhere")))
    message = str(err.value)
    assert str(tmp_path / "nowhere" / "MPIIGaze") in message
    assert "Data/Normalized/pXX/dayYY.mat" in message and "MPIIGaze.h5" in message
    assert "sample list for eye image" in message
    write_h5(tmp_path / "MPIIGaze" / "MPIIGaze.h5", n=1)
    with pytest.raises(DatasetNotFoundError, match="mat"):
        load_task(spec(), DataHparams(data_root=str(tmp_path), mpiigaze_format="mat"))


def test_missing_evaluation_list_is_explained(tmp_path: Path) -> None:
    write_mat_dataset(tmp_path / "MPIIGaze")
    (tmp_path / "MPIIGaze" / "Evaluation Subset" / "sample list for eye image" / "p04.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="p04.txt"):
        load_task(spec(), DataHparams(data_root=str(tmp_path)))
