"""A multi-GPU run's code path on the CPU: trains one digits spec with resources.gpus 2, once in one process and
once as DistributedDataParallel over K gloo processes (XCL_DDP_CPU_PROCESSES), same seed and global batch, and
prints both runs' last-epoch test top-1 and wall time, and how far apart their final weights are relative to how
far training moved them (BatchNorm normalises each rank's slice on CPU, so the two are close, not equal).
Run: `.venv/bin/python benchmarks/ddp_cpu.py [--epochs 5] [--processes 2]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker.training.distributed import CPU_PROCESSES_ENV  # noqa: E402
from worker.training.hooks import Hooks, TrainResult  # noqa: E402
from worker.training.safe_load import load_checkpoint  # noqa: E402
from worker.training.trainer import train  # noqa: E402
from xclab.spec import RunSpec, resolve_hparams  # noqa: E402


class Initial(Hooks):
    def on_model_built(self, model: torch.nn.Module) -> None:
        self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}


def run(spec: RunSpec, workdir: Path, processes: int, hooks: Hooks) -> TrainResult:
    os.environ[CPU_PROCESSES_ENV] = str(processes)
    return train(spec, resolve_hparams(spec), workdir, hooks=hooks, device="cpu")


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    keys = [k for k in a if a[k].is_floating_point() and "running" not in k]
    return float(torch.cat([(a[k] - b[k]).flatten() for k in keys]).norm())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    spec = RunSpec.model_validate(
        {
            "task": "digits",
            "model": {"name": "small-cnn", "width": 0.5},
            "seed": 1,
            "epochs": args.epochs,
            "resources": {"gpus": 2},
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        initial = Initial()
        single = run(spec, Path(tmp) / "single", 1, initial)
        ddp = run(spec, Path(tmp) / "ddp", args.processes, Hooks())
        w_single = load_checkpoint(single.model_path)["model"]
        w_ddp = load_checkpoint(ddp.model_path)["model"]
    for name, result in (("1 process", single), (f"DDP x{args.processes} (gloo)", ddp)):
        m = result.final_metrics
        print(
            f"{name:>16}: test_top1 {m['test_top1']:.2f}  train_loss {m['train_loss']:.4f}  "
            f"wall {m['wall_time_s']:.1f} s"
        )
    moved, apart = distance(w_single, initial.weights), distance(w_ddp, w_single)
    print(
        f"final weights: |ddp - single| / |single - initial| = {apart:.4f} / {moved:.4f} = {apart / moved:.3f}"
    )


if __name__ == "__main__":
    main()
