"""The deterministic workload both trackers receive, and the answers they must give back.

Every value is a function of (seed, run index) or (seed, step), so the expected search order and histories
are computed here, without asking either server."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

ARCHS = ("resnet18", "resnet50", "resnet101", "vit-b16", "mobilenetv3")
SEARCH_PARAM = ("arch", "resnet50")
SORT_METRIC = "val_top1"
METRIC_KEYS = ("val_top1", "val_loss", "train_top1", "train_loss", "lr")
HISTORY_KEY = "train_loss"
TOP_K = 100
SUMMARY_STEPS = 3  # points per key each searchable run logs: the search must use the last, not the largest
BASE_TIMESTAMP_MS = 1_700_000_000_000


@dataclass(frozen=True)
class Point:
    key: str
    step: int
    value: float
    timestamp_ms: int


@dataclass(frozen=True)
class RunPlan:
    index: int
    params: dict[str, str]  # 10 params, values short enough to be XCL Lab tags "key:value"
    points: tuple[Point, ...]  # every key at steps 0..SUMMARY_STEPS-1, one request

    def latest(self, key: str) -> float:
        return max((p for p in self.points if p.key == key), key=lambda p: p.step).value


class Workload:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._plans: dict[int, RunPlan] = {}

    def run(self, index: int) -> RunPlan:
        if index not in self._plans:
            self._plans[index] = self._make_run(index)
        return self._plans[index]

    def _make_run(self, index: int) -> RunPlan:
        rng = random.Random(self.seed * 1_000_003 + index)
        params = {
            "arch": rng.choice(ARCHS),
            "lr": f"{rng.choice([0.1, 0.05, 0.01, 0.005, 0.001]):g}",
            "batch_size": str(rng.choice([32, 64, 128, 256])),
            "optimizer": rng.choice(["sgd", "adamw", "lamb"]),
            "weight_decay": f"{rng.choice([0.0, 1e-5, 5e-5, 1e-4, 5e-4]):g}",
            "temperature": f"{rng.choice([1.0, 2.0, 4.0, 8.0]):g}",
            "seed": str(index % 5),
            "epochs": str(rng.choice([30, 90, 200])),
            "width": f"{rng.choice([0.25, 0.5, 1.0, 2.0]):g}",
            "mix_ratio": f"{rng.choice([0.0, 0.5, 1.0]):g}",
        }
        points = []
        for step in range(SUMMARY_STEPS):
            for key in METRIC_KEYS:
                # Full-precision random floats: ties in the sort metric are practically impossible, and
                # earlier steps are sometimes larger than the last, so "latest" and "best" differ.
                value = rng.random() * (100.0 if key.endswith("top1") else 5.0)
                points.append(Point(key, step, value, BASE_TIMESTAMP_MS + index * 1000 + step))
        return RunPlan(index, params, tuple(points))

    def expected_top(self, n_runs: int, k: int = TOP_K) -> list[int]:
        """Indices of the top-k runs among the first n_runs carrying the search param, by the sort metric's
        latest value, descending."""
        name, value = SEARCH_PARAM
        matching = [self.run(i) for i in range(n_runs) if self.run(i).params[name] == value]
        latest = [plan.latest(SORT_METRIC) for plan in matching]
        if len(set(latest)) != len(latest):
            raise ValueError("tied sort values: the expected order would be ambiguous; pick another seed")
        matching.sort(key=lambda plan: plan.latest(SORT_METRIC), reverse=True)
        return [plan.index for plan in matching[:k]]


def series_value(key_index: int, step: int) -> float:
    """A smooth, deterministic training curve per key (exactly representable as JSON)."""
    return 1.0 / (1.0 + 0.001 * step) + 0.01 * math.sin(step / 37.0 + key_index)


def series_points(steps: int) -> list[Point]:
    """Every key at steps 0..steps-1, ordered as a training loop logs them: all keys of one step together."""
    return [
        Point(key, step, series_value(k, step), BASE_TIMESTAMP_MS + step)
        for step in range(steps)
        for k, key in enumerate(METRIC_KEYS)
    ]


def batches(points: list[Point], size: int) -> Iterator[list[Point]]:
    for start in range(0, len(points), size):
        yield points[start : start + size]


def expected_history(points: list[Point], key: str) -> list[tuple[int, float]]:
    return sorted((p.step, p.value) for p in points if p.key == key)
