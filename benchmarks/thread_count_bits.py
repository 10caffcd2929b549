"""Why a run pins its intra-op threads: trains one small digits spec with `threads` 1, then 2 (same seed,
same everything else) on the CPU and prints whether the metric histories are bit-identical, and the first
metric that differs. Run: `.venv/bin/python benchmarks/thread_count_bits.py [--epochs 2] [--threads 1 2]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker.training.trainer import train  # noqa: E402
from xclab.spec import RunSpec, resolve_hparams  # noqa: E402

TIMINGS = {"epoch_seconds", "samples_per_s", "wall_time_s", "peak_memory_mb"}


def history(threads: int, epochs: int, workdir: Path) -> list[dict[str, float]]:
    spec = RunSpec.model_validate(
        {
            "task": "digits",
            "model": {"name": "small-cnn", "width": 0.5},
            "method": {"name": "erm"},
            "seed": 1,
            "epochs": epochs,
            "overrides": {"threads": threads},
        }
    )
    result = train(spec, resolve_hparams(spec), workdir / f"threads-{threads}", device="cpu")
    return [{k: v for k, v in h.items() if k not in TIMINGS} for h in result.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs=2, default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a, b = (history(t, args.epochs, Path(tmp)) for t in args.threads)
    ta, tb = args.threads
    print(f"threads {ta} vs {tb}: bit-identical histories: {a == b}")
    for key in ("test_top1", "train_loss"):
        print(f"last epoch {key}: {a[-1][key]!r} vs {b[-1][key]!r}")
    for ha, hb in zip(a, b, strict=True):
        for key in sorted(ha):
            if ha[key] != hb.get(key):
                print(f"first difference: epoch {ha['epoch']:.0f} {key}: {ha[key]!r} vs {hb.get(key)!r}")
                return


if __name__ == "__main__":
    main()
