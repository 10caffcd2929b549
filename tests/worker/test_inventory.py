"""Which GPUs a worker's pool process sees: one each side by side, all of them on a worker of one slot."""

from __future__ import annotations

from worker.inventory import visible_gpus

GPUS = [{"index": i, "name": "NVIDIA H100", "memory_mb": 81_559} for i in (2, 0, 3)]


def test_a_one_slot_worker_gives_its_process_every_gpu_in_listed_order() -> None:
    assert visible_gpus(GPUS, slots=1, process_index=0) == "2,0,3"


def test_side_by_side_processes_get_one_gpu_each() -> None:
    assert [visible_gpus(GPUS, slots=3, process_index=i) for i in range(3)] == ["2", "0", "3"]
    assert visible_gpus(GPUS, slots=2, process_index=1) == "0"


def test_a_node_without_gpus_leaves_the_variable_alone() -> None:
    assert visible_gpus([], slots=1, process_index=0) is None
