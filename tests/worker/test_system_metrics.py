"""System metrics sampled from the real process tree: keys, units, steps in seconds, children counted."""

from __future__ import annotations

import subprocess
import sys
import time

from worker.system_metrics import SystemMonitor, gpu_sample


class Recorded:
    """Collects what the monitor logs, as the run's metric batcher would receive it."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, float], int, float | None]] = []

    def log(self, values: dict[str, float], step: int, wall_time: float | None = None) -> None:
        self.calls.append((values, step, wall_time))


def test_samples_at_start_every_interval_and_at_stop() -> None:
    sink = Recorded()
    monitor = SystemMonitor(sink, interval=0.3).start()
    time.sleep(1.0)
    monitor.stop()
    steps = [step for _, step, _ in sink.calls]
    assert len(steps) >= 4 and steps == sorted(
        set(steps)
    )  # start, about three ticks, stop; never a step twice
    values = sink.calls[-1][0]
    assert set(values) == {"system/cpu_percent", "system/rss_mb", "system/ram_percent"}  # no CUDA here
    assert values["system/rss_mb"] > 10 and 0 < values["system/ram_percent"] <= 100
    assert all(wall is not None and abs(wall - time.time()) < 60 for _, _, wall in sink.calls)
    assert all(abs(step - time.time()) < 60 for step in steps)  # Unix seconds: attempts never collide
    monitor.stop()  # twice is harmless
    assert len(sink.calls) == len(steps)


def test_off_when_the_interval_is_zero() -> None:
    sink = Recorded()
    SystemMonitor(sink, interval=0).start().stop()
    assert sink.calls == []


def test_a_child_process_memory_and_cpu_count_for_the_run() -> None:
    monitor = SystemMonitor(Recorded(), interval=60)
    alone = monitor.sample()["system/rss_mb"]
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; b = bytearray(300 * 2**20); t = time.time()\nwhile time.time() - t < 3: pass",
        ]
    )
    try:
        time.sleep(1.5)
        monitor.sample()  # the first look at the child primes its CPU counter
        time.sleep(0.5)
        with_child = monitor.sample()
    finally:
        child.kill()
        child.wait()
    assert with_child["system/rss_mb"] > alone + 250
    assert with_child["system/cpu_percent"] > 30  # the child spins a core
    assert gpu_sample() == {}


class FakeCuda:
    """torch.cuda as a CUDA process sees it, without a GPU: two devices with reserved memory."""

    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def device_count() -> int:
        return 2

    @staticmethod
    def memory_reserved(index: int) -> int:
        return (index + 1) * 256 * 1024 * 1024


def test_gpu_readings_come_from_nvidia_smi_for_the_visible_devices(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """nvidia-smi's CSV for the run's CUDA_VISIBLE_DEVICES (a fake binary here: no GPU on this machine), else
    torch's reserved memory."""
    import types

    fake_torch = types.SimpleNamespace(cuda=FakeCuda)
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    smi = tmp_path / "nvidia-smi"
    smi.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\nprintf "40, 1000\\n60, 3000\\n"\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert gpu_sample() == {"system/gpu_util": 50.0, "system/gpu_mem_mb": 4000.0}
    assert "-i 2,3" in (tmp_path / "args").read_text()
    smi.write_text("#!/bin/sh\nexit 9\n")  # nvidia-smi failing: torch's own count of reserved memory
    assert gpu_sample() == {"system/gpu_mem_mb": 768.0}
