"""Multi-GPU runs on CPU: DistributedDataParallel with gloo over 2 processes (XCL_DDP_CPU_PROCESSES) trains the
same global batches as a single-process run, keeps both ranks' weights equal, and reports from rank 0 only."""

from __future__ import annotations

import inspect
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import TensorDataset

from worker.training.batches import Batches, global_batch_size
from worker.training.data import TaskData, load_task
from worker.training.distributed import CPU_PROCESSES_ENV, world_size
from worker.training.hooks import Cancelled, Hooks
from worker.training.safe_load import load_checkpoint
from worker.training.streams import RunStreams
from worker.training.trainer import train
from xclab.hparams import Hparams
from xclab.spec import RunSpec, resolve_hparams


class Recorder(Hooks):
    def __init__(self, stop_after: int | None = None) -> None:
        self.stop_after = stop_after
        self.epochs: list[dict[str, float]] = []
        self.environments: list[dict[str, Any]] = []
        self.initial: dict[str, torch.Tensor] = {}

    def on_model_built(self, model: torch.nn.Module) -> None:
        self.initial = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        self.epochs.append(metrics)

    def on_environment(self, environment: dict[str, Any]) -> None:
        self.environments.append(environment)

    def should_stop(self) -> bool:
        return self.stop_after is not None and len(self.epochs) >= self.stop_after


def _spec(gpus: int) -> RunSpec:
    return RunSpec.model_validate(
        {
            "task": "digits",
            "model": {"name": "small-cnn", "width": 0.25},
            "seed": 5,
            "epochs": 3,
            "limit": 512,
            "overrides": {"batch_size": 64},
            "resources": {"gpus": gpus},
        }
    )


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path, torch.device("cpu"))["model"]


def test_two_gloo_ranks_train_like_one_process_on_the_global_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    single_hooks = Recorder()  # without the variable a gpus: 2 run on CPU trains in one process
    single = train(_spec(2), resolve_hparams(_spec(2)), tmp_path / "single", hooks=single_hooks, device="cpu")

    monkeypatch.setenv(CPU_PROCESSES_ENV, "2")
    hooks = Recorder()
    ddp = train(_spec(2), resolve_hparams(_spec(2)), tmp_path / "ddp", hooks=hooks, device="cpu")

    # It trains: the loss falls, and rank 0 alone reported each epoch once.
    losses = [m["train_loss"] for m in hooks.epochs]
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2] and losses[2] < losses[0] - 0.1
    assert ddp.final_metrics["world_size"] == 2 and ddp.final_metrics["effective_batch_size"] == 64
    assert hooks.environments[0]["distributed"] == {
        "backend": "gloo",
        "world_size": 2,
        "global_batch_size": 64,
        "per_rank_batch_size": 32.0,
        "sync_batchnorm": False,
    }
    # Both ranks ended with the same weights (the engine all-gathers their checksums and raises otherwise). The
    # update is close to one process's on the same global batches, not equal: BatchNorm normalises each rank's
    # half on CPU (SyncBatchNorm needs CUDA), and every catalog model has BatchNorm.
    assert single_hooks.initial.keys() == hooks.initial.keys()
    assert all(torch.equal(single_hooks.initial[k], hooks.initial[k]) for k in hooks.initial)
    single_w, ddp_w = _weights(single.model_path), _weights(ddp.model_path)
    moved, apart = _distance(single_w, single_hooks.initial), _distance(ddp_w, single_w)
    assert moved > 0 and apart < 0.1 * moved, (apart, moved)
    assert abs(ddp.final_metrics["test_top1"] - single.final_metrics["test_top1"]) <= 5.0


# BatchNorm is the one thing CPU ranks cannot synchronise (SyncBatchNorm needs CUDA). Taken out, in this process and,
# through a sitecustomize on PYTHONPATH, in rank 1, DDP must update exactly like one process (up to rounding).
class NoBatchNorm(torch.nn.Identity):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()


SITECUSTOMIZE = f"""from typing import Any

import torch.nn as nn

{inspect.getsource(NoBatchNorm).replace("torch.nn.", "nn.")}
nn.BatchNorm2d = NoBatchNorm
"""


def test_without_batchnorm_two_ranks_update_exactly_like_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    monkeypatch.setattr(torch.nn, "BatchNorm2d", NoBatchNorm)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))

    single_hooks = Recorder()
    single = train(_spec(2), resolve_hparams(_spec(2)), tmp_path / "single", hooks=single_hooks, device="cpu")
    monkeypatch.setenv(CPU_PROCESSES_ENV, "2")
    ddp = train(_spec(2), resolve_hparams(_spec(2)), tmp_path / "ddp", device="cpu")

    single_w, ddp_w = _weights(single.model_path), _weights(ddp.model_path)
    assert not any(
        "running" in k for k in single_w
    )  # BatchNorm really gone (rank 1 too, or the sync check fails)
    assert _distance(single_w, single_hooks.initial) > 0.1
    for key in single_w:
        torch.testing.assert_close(ddp_w[key], single_w[key], rtol=0, atol=1e-6, msg=key)


def test_a_cancelled_run_stops_every_rank_and_resumes_to_the_same_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CPU_PROCESSES_ENV, "2")
    whole = train(_spec(2), resolve_hparams(_spec(2)), tmp_path / "whole", device="cpu")

    stopping = Recorder(stop_after=1)  # rank 0's cancel flag, broadcast to rank 1 at the same step
    with pytest.raises(Cancelled):
        train(_spec(2), resolve_hparams(_spec(2)), tmp_path / "cut", hooks=stopping, device="cpu")
    assert len(stopping.epochs) == 1 and (tmp_path / "cut" / "checkpoint.pt").exists()

    resumed_hooks = Recorder()
    resumed = train(_spec(2), resolve_hparams(_spec(2)), tmp_path / "cut", hooks=resumed_hooks, device="cpu")
    # The checkpointed epoch 1 is reported again (its metrics may never have left a killed worker), then 2 and 3.
    assert len(resumed_hooks.epochs) == 3 and resumed_hooks.epochs[0] == stopping.epochs[0]
    # No augmentation or dropout on digits/small-cnn: the resumed run repeats the uninterrupted one exactly.
    whole_w, resumed_w = _weights(whole.model_path), _weights(resumed.model_path)
    assert all(torch.equal(whole_w[k], resumed_w[k]) for k in whole_w)


def test_a_rank_that_dies_before_joining_fails_the_run_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CPU_PROCESSES_ENV, "2")
    # Rank 1's interpreter exits with status 1 at once, as one that cannot start would.
    monkeypatch.setattr(sys, "executable", shutil.which("false"))
    with pytest.raises(RuntimeError, match=r"exited before joining \(rank, exit code\): \[\(1, 1\)\]"):
        train(_spec(2), resolve_hparams(_spec(2)), tmp_path / "run", device="cpu")


def _distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    keys = [k for k in a if a[k].is_floating_point() and "running" not in k]
    return float(torch.cat([(a[k] - b[k]).flatten() for k in keys]).norm())


def test_world_size_comes_from_the_variable_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.delenv(CPU_PROCESSES_ENV, raising=False)
    assert world_size(4, cpu) == 1  # a gpus: 4 run on a machine without CUDA trains in one process
    monkeypatch.setenv(CPU_PROCESSES_ENV, "3")
    assert world_size(2, cpu) == 3
    assert world_size(1, cpu) == world_size(0, cpu) == 1  # single-device runs never go distributed
    monkeypatch.setenv(CPU_PROCESSES_ENV, "two")
    with pytest.raises(ValueError, match=CPU_PROCESSES_ENV):
        world_size(2, cpu)


def test_ranks_cut_disjoint_slices_of_the_same_global_batches() -> None:
    spec = _spec(2)
    hp = Hparams.model_validate(resolve_hparams(spec))
    data, cpu = load_task(spec, hp), torch.device("cpu")

    def epoch(shard: tuple[int, int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return list(Batches(data, cpu, 60, RunStreams(spec.seed, cpu), 0, shard=shard).train())

    whole, first, second = epoch((0, 1)), epoch((0, 2)), epoch((1, 2))
    assert len(whole) == len(first) == len(second) == 9  # 512 samples: 8 of 60 and a last one of 32
    for (x, y), (x0, y0), (x1, y1) in zip(whole, first, second, strict=True):
        assert len(y0) == len(y1) == len(y) // 2
        assert torch.equal(torch.cat([x0, x1]), x) and torch.equal(torch.cat([y0, y1]), y)


def test_loader_ranks_share_a_seed_and_split_each_epoch_into_disjoint_halves() -> None:
    cpu = torch.device("cpu")
    ids = torch.arange(100)
    data = TaskData("classification", 10, train_dataset=TensorDataset(ids.float()[:, None], ids % 10))

    def epochs(shard: tuple[int, int]) -> list[list[int]]:
        batches = Batches(data, cpu, 20, RunStreams(3, cpu), 0, shard=shard)
        return [[int(x) for xb, _ in batches.train() for x in xb[:, 0]] for _ in range(2)]

    first, second = epochs((0, 2)), epochs((1, 2))
    assert global_batch_size(20, 2, in_memory=False) == 20 and global_batch_size(21, 2, in_memory=False) == 20
    for a, b in zip(first, second, strict=True):
        assert len(a) == len(b) == 50 and sorted(a + b) == list(range(100))  # disjoint halves, all samples
    assert first[0] != first[1]  # reshuffled every epoch


def test_a_distilling_run_loads_its_teacher_on_every_rank(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teacher_spec = _spec(0)
    teacher = train(
        teacher_spec, resolve_hparams(teacher_spec), tmp_path / "teacher", device="cpu"
    ).model_path
    student = RunSpec.model_validate(
        {**_spec(2).model_dump(), "method": {"name": "xcl-mix", "mix": "both"}, "teachers": [1], "epochs": 2}
    )
    monkeypatch.setenv(CPU_PROCESSES_ENV, "2")
    hooks = Recorder()
    result = train(
        student, resolve_hparams(student), tmp_path / "s", hooks=hooks, device="cpu", teacher_paths=[teacher]
    )
    assert len(hooks.epochs) == 2 and result.final_metrics["world_size"] == 2
    assert 0 <= result.final_metrics["teacher_agreement"] <= 100  # rank 0 scored against the ensemble
    assert "h_hat" in hooks.epochs[0] and "transfer_ratio" in hooks.epochs[0]  # averaged over both ranks


class KillRankOne(Recorder):
    """Kills the rank-1 process (a child of this one) at the end of the first epoch, as an OOM kill would."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        super().on_epoch_end(epoch, metrics)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            fields = stat.read_text().rsplit(")", 1)[-1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
            if int(fields[1]) == os.getpid() and b"worker.training.rank_process" in cmdline:
                os.kill(int(stat.parent.name), signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the rank's process through /proc")
def test_a_rank_killed_mid_run_fails_the_run_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CPU_PROCESSES_ENV, "2")
    hooks = KillRankOne()
    with pytest.raises(RuntimeError, match=r"distributed ranks failed \(rank, exit code\): \[\(1, -9\)\]"):
        train(_spec(2), resolve_hparams(_spec(2)), tmp_path / "run", hooks=hooks, device="cpu")
    assert len(hooks.epochs) == 1
