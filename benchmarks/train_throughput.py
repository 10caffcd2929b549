"""Training throughput of the engine's pipelines against the common reference pipelines, on one device.

    python benchmarks/train_throughput.py                 # a GPU: the real shapes (CIFAR ResNet-18, batch 128)
    python benchmarks/train_throughput.py --device cpu --tiny   # the CPU smoke run CI uses: tiny shapes

Data are synthetic tensors of the real shapes (the figures do not depend on pixel values). Each figure is images/s
after a warm-up; XCL figures count original images (each step also labels as many mixed ones). Rows:

- ERM, CIFAR ResNet-18: reference (torchvision Dataset with PIL RandomCrop/Flip, DataLoader with workers, fp32)
  vs the engine's `train_one_epoch` (device-resident batches, GPU crop/flip, bf16, channels_last) vs the same
  step captured in a CUDA graph. Target: graph >= 2.5x reference.
- XCL-Mix, K ResNet-18 teachers, B originals + B mixed per step: a plain eager loop over the members (fp32) vs
  the engine's vmapped ensemble vs folded bf16 stacked teachers with the step in one graph. Target >= 2.5x.
- Packing: K runs on one GPU at once (separate processes) vs the single-run reference. Target >= 4x.
- Gaze LeNet (36x60 eye + head-pose row, batch 32) and digits: DataLoader over host tensors vs the engine's device-resident batches.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.throughput import engine, reference  # noqa: E402
from benchmarks.throughput.packing import packed  # noqa: E402
from benchmarks.throughput.sizes import CPU_TINY, GPU, Sizes  # noqa: E402
from benchmarks.throughput.timing import Measurement  # noqa: E402
from worker.training.models import build_model  # noqa: E402

TARGETS = {"erm": 2.5, "xcl": 2.5, "pack": 4.0}


def _resnet(sizes: Sizes, device: torch.device, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("resnet18-cifar", num_outputs=100, width=sizes.width, input_shape=(3, 32, 32)).to(
        device
    )
    return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model


def erm_rows(sizes: Sizes, device: torch.device) -> list[tuple[str, Measurement]]:
    rng = np.random.default_rng(0)
    images_hwc = rng.integers(0, 256, (sizes.cifar_images, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 100, sizes.cifar_images)
    loader = reference.cifar_loader(images_hwc, labels, sizes, device)
    ref_model = build_model("resnet18-cifar", num_outputs=100, width=sizes.width, input_shape=(3, 32, 32))
    rows = [
        (
            "reference: DataLoader + PIL, fp32",
            reference.erm_reference(ref_model.to(device), loader, sizes, device),
        )
    ]
    x = torch.from_numpy(images_hwc).permute(0, 3, 1, 2).contiguous().to(device)
    y = torch.from_numpy(labels).to(device)
    data = engine.cifar_data(x, y)
    rows.append(
        (
            "engine: train_one_epoch",
            engine.engine_epochs(
                _resnet(sizes, device, 0), "erm", "cifar100", data, sizes, sizes.batch, device
            ),
        )
    )
    rows.append(("engine: graphed step", engine.graphed_erm(_resnet(sizes, device, 0), data, sizes, device)))
    return rows


def xcl_rows(sizes: Sizes, device: torch.device) -> list[tuple[str, Measurement]]:
    x = torch.randint(0, 256, (sizes.cifar_images, 3, 32, 32), dtype=torch.uint8, device=device)
    y = torch.randint(0, 100, (sizes.cifar_images,), device=device)
    members = [_resnet(sizes, device, 100 + k).eval() for k in range(sizes.teachers)]
    prepared = engine.cifar_data(x, y).prepare(x[: sizes.batch * 8])  # type: ignore[misc]
    rows = [
        (
            "reference: eager loop over members, fp32",
            reference.xcl_reference(_resnet(sizes, device, 0), members, prepared, sizes, device),
        )
    ]
    data = engine.cifar_data(x, y)
    ensemble = engine.engine_teacher_ensemble(members)
    params = {"mix": "mixup", "mix_ratio": 1.0, "temperature": 1.0}
    if "batch_composition" in engine.METHODS["xcl-mix"].params_model.model_fields:
        params["batch_composition"] = "append"  # B originals + B mixed, as the reference
    rows.append(
        (
            "engine: train_one_epoch (vmapped ensemble)",
            engine.engine_epochs(
                _resnet(sizes, device, 0),
                "xcl-mix",
                "cifar100",
                data,
                sizes,
                sizes.batch,
                device,
                ensemble,
                **params,
            ),
        )
    )
    rows.append(
        (
            "engine: folded bf16 stack + graph",
            engine.graphed_xcl(_resnet(sizes, device, 0), members, data, sizes, device),
        )
    )
    return rows


def small_rows(sizes: Sizes, device: torch.device) -> dict[str, list[tuple[str, Measurement]]]:
    sections = {}
    for task, model_name, shape, batch in (
        ("synthetic-gaze", "lenet", (1, 37, 60), sizes.gaze_batch),  # 36x60 eye + the head-pose row
        ("digits", "small-cnn", (1, 8, 8), 32),
    ):
        torch.manual_seed(0)
        x = torch.rand(sizes.gaze_images, *shape)
        y = (
            torch.randint(0, 10, (sizes.gaze_images,))
            if task == "digits"
            else torch.randn(sizes.gaze_images, 2)
        )
        outputs = 10 if task == "digits" else 3

        def model(
            name: str = model_name, n: int = outputs, shape: tuple[int, ...] = shape
        ) -> torch.nn.Module:
            return build_model(name, num_outputs=n, width=1.0, input_shape=shape).to(device)

        if task == "digits":
            ref_y = torch.nn.functional.one_hot(y, 10).float()
            ref = reference.tensor_loader_reference(model(), x, ref_y, batch, sizes, device)
            data = engine.TaskData(
                "classification", 10, x.to(device), y.to(device), x[:1].to(device), y[:1].to(device)
            )
        else:
            ref = reference.tensor_loader_reference(model(), x, y, batch, sizes, device)
            data = engine.regression_data(x.to(device), y.to(device))
        resident = engine.engine_epochs(model(), "erm", task, data, sizes, batch, device)
        sections[task] = [
            (f"{task}: reference DataLoader", ref),
            (f"{task}: engine device-resident", resident),
        ]
    return sections


def report(
    sections: dict[str, list[tuple[str, Measurement]]], device: torch.device, args: argparse.Namespace
) -> dict:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(
        f"device: {name} ({device}); torch {torch.__version__}; CUDA {torch.version.cuda}; cpus {os.cpu_count()}"
    )
    print(f"{'pipeline':<52} {'images/s':>10} {'x ref':>7}  note")
    out: dict = {"device": name, "torch": torch.__version__, "tiny": args.tiny, "sections": {}}
    for section, rows in sections.items():
        base = rows[0][1].images_per_s
        print(f"-- {section}")
        for label, m in rows:
            print(f"{label:<52} {m.images_per_s:>10,.0f} {m.images_per_s / base:>6.2f}x  {m.note}")
        best = max(m.images_per_s for _, m in rows[1:]) / base if len(rows) > 1 else 1.0
        target = TARGETS.get(section) if device.type == "cuda" else None
        verdict = "" if target is None else f" (target {target}x: {'met' if best >= target else 'NOT met'})"
        print(f"   best / reference: {best:.2f}x{verdict}")
        out["sections"][section] = {
            "rows": [{"pipeline": label, **asdict(m)} for label, m in rows],
            "best_ratio": best,
        }
    if device.type != "cuda":
        print("note: no GPU — these are smoke figures; the targets are about a GPU and are not judged here.")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (the CPU smoke run)")
    parser.add_argument("--only", default="erm,xcl,pack,small", help="comma-separated sections")
    parser.add_argument("--pack", type=int, default=8, help="runs packed on one GPU")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run with --device cpu --tiny", file=sys.stderr)
        return 2
    sizes = CPU_TINY if args.tiny or device.type != "cuda" else GPU
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    only = set(args.only.split(","))
    sections: dict[str, list[tuple[str, Measurement]]] = {}
    if "erm" in only or "pack" in only:
        sections["erm"] = erm_rows(sizes, device)
    if "xcl" in only:
        sections["xcl"] = xcl_rows(sizes, device)
    if "pack" in only:
        sections["pack"] = [
            sections["erm"][0],
            (f"engine: {args.pack} packed runs", packed(args.pack, sizes, device)),
        ]
    if "small" in only:
        sections.update(small_rows(sizes, device))
    result = report(sections, device, args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
