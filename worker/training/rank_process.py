"""A rank > 0 of a multi-GPU run, started by distributed.launch as `python -m worker.training.rank_process RANK
ARGS_JSON`: joins the process group, trains its slices with no-op hooks (rank 0 reports), leaves."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from worker.training import distributed
from worker.training.hooks import Cancelled
from worker.training.trainer import train
from xclab.spec import RunSpec

PR_SET_PDEATHSIG = 1  # prctl option: the signal this process gets when its parent dies


def main(rank_index: int, args_json: str) -> int:
    """Entry of ranks 1..N-1: join the group, train with no-op hooks, leave."""
    args = json.loads(args_json)
    _die_with(args.pop("parent"))
    rank, device = distributed.Rank(rank_index, args.pop("world")), torch.device(args.pop("device"))
    port = args.pop("port")
    distributed.init_group(rank, device, port)
    folder = {k: Path(args[k]) if args.get(k) else None for k in ("generator_path", "data_root", "cache_dir")}
    try:
        train(
            RunSpec.model_validate(args["spec"]),
            args["hparams"],
            Path(args["workdir"]),
            device=str(distributed.rank_device(device, rank)),
            teacher_paths=[Path(p) for p in args["teacher_paths"]] or None,
            generator_path=folder["generator_path"],
            data_root=folder["data_root"],
            cache_dir=folder["cache_dir"],
            rank=rank,
        )
    except Cancelled:
        return distributed.CANCELLED_EXIT
    finally:
        dist.destroy_process_group()
    return 0


def _die_with(parent: int) -> None:
    """Exit when rank 0's process dies (e.g. a killed worker), instead of waiting in a collective for the timeout
    and holding its GPU meanwhile (Linux; elsewhere the collective's timeout ends it)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above took effect
        sys.exit(1)


if __name__ == "__main__":
    code = main(int(sys.argv[1]), sys.argv[2])
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without the interpreter's teardown: a process-group backend's C++ threads destroyed at exit can abort
    # the process ("terminate called without an active exception", SIGABRT) after a clean run.
    os._exit(code)
