"""Determinism settings for a run and the record of what it ran on.

A run is a pure function of its spec, seed and software on the CPU: `configure` pins the intra-op threads to
the run's `threads` hyperparameter (default 1: a CPU reduction split over a different number of threads adds
in a different order and can change the last bit), and turns on PyTorch's deterministic algorithms. On CUDA
the same holds where PyTorch offers it when the recipe sets `deterministic: true` (cuDNN deterministic, no
benchmark, a fixed cuBLAS workspace); ops without a deterministic kernel are recorded, not hidden.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

import torch

from worker.training.data import TaskData
from xclab.hparams import Hparams
from xclab.machine import cpu_model

NONDETERMINISTIC_HINT = "does not have a deterministic implementation"


def configure(hp: Hparams, device: torch.device) -> dict[str, Any]:
    """Apply the run's thread count and determinism; returns the flags as they now stand."""
    torch.set_num_threads(hp.threads)
    cuda = device.type == "cuda"
    deterministic = not cuda or hp.deterministic
    if cuda and deterministic:
        # cuBLAS reads this when its handle is created; a process that already used CUDA keeps its setting.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = cuda and not deterministic
    reasons = []
    if cuda and not hp.deterministic:
        reasons.append("CUDA run without deterministic: true (cuDNN benchmark on, nondeterministic kernels)")
    if cuda and deterministic and os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in (":4096:8", ":16:8"):
        reasons.append("CUBLAS_WORKSPACE_CONFIG is not :4096:8 or :16:8; cuBLAS may be nondeterministic")
    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG") if cuda else None,
        "autocast": "bfloat16" if cuda else None,
        "guaranteed": not reasons,
        "reasons": reasons,
    }


@contextmanager
def watch_nondeterminism(record: dict[str, Any]) -> Iterator[None]:
    """Collect PyTorch's warnings about ops run without a deterministic kernel into record["reasons"]
    (other warnings pass through as usual)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            ops = sorted(
                {
                    str(w.message).split(" does not")[0]
                    for w in caught
                    if NONDETERMINISTIC_HINT in str(w.message)
                }
            )
            for w in caught:
                if NONDETERMINISTIC_HINT not in str(w.message):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            if ops:
                record["guaranteed"] = False
                record["reasons"] = [*record["reasons"], *(f"nondeterministic op: {op}" for op in ops)]


def environment(
    hparams: dict[str, Any], data: TaskData, device: torch.device, flags: dict[str, Any]
) -> dict[str, Any]:
    """What a rerun must match to promise the same numbers; `hparams` as the run stored them."""
    return {
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": _version("torchvision"),
            "numpy": _version("numpy"),
            "xclab": _version("xclab"),
            "cuda": torch.version.cuda if device.type == "cuda" else None,
            "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        },
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
        # The instruction set PyTorch picked its CPU kernels for: runs on machines that differ here may differ in
        # their last bits (and so in everything after), see docs/reproducibility.md.
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "determinism": flags,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "hparams_sha256": hashlib.sha256(json.dumps(hparams, sort_keys=True).encode()).hexdigest(),
        "data_sha256": data_digest(data),
    }


def data_digest(data: TaskData) -> str | None:
    """sha256 over the training and test tensors as loaded (None for folder-backed datasets: hashing
    ImageNet would cost minutes per run)."""
    if not data.in_memory:
        return None
    digest = hashlib.sha256()
    for t in (data.train_x, data.train_y, data.test_x, data.test_y, data.train_aux, data.test_aux):
        if t is not None:
            digest.update(f"{t.dtype}{tuple(t.shape)}".encode())
            digest.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
