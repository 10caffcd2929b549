"""The throughput benchmark's CPU smoke run: every section runs end to end and reports figures (no timing is
judged here; the targets are about a GPU)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_cpu_smoke_run_reports_every_section(tmp_path: Path):
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/train_throughput.py", "--device", "cpu", "--tiny", "--pack", "2",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert set(figures["sections"]) == {"erm", "xcl", "pack", "synthetic-gaze", "digits"}
    for section in figures["sections"].values():
        assert all(row["images_per_s"] > 0 for row in section["rows"])
    assert "engine: graphed step" in proc.stdout and "folded bf16 stack + graph" in proc.stdout
    assert "not judged" in proc.stdout  # a CPU run never claims a GPU target
