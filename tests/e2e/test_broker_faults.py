"""Bad luck on the embedded broker, with a real worker process: unreadable message files are dropped (the
worker keeps running and trains the next run)."""

from __future__ import annotations

from pathlib import Path

from tests.support import digits_spec, start_stack


def test_corrupt_and_truncated_messages_do_not_kill_the_worker(tmp_path: Path) -> None:
    stack = start_stack(tmp_path, workers=1)
    try:
        queue = tmp_path / "broker" / "queue"
        queue.mkdir(parents=True, exist_ok=True)
        for i, raw in enumerate([b"", b'{"body": "eyJhcmdz', b"\x00\xff garbage", b'{"properties": 1}']):
            (queue / f"0000{i}_bad.cpu.msg").write_bytes(raw)
        with stack.client() as client:
            exp = client.post("/experiments", json={"name": "faults"}).json()["id"]
            run = client.post("/runs", json={"experiment_id": exp, "spec": digits_spec(epochs=1)}).json()
        done = stack.wait_for_status(run["id"], {"succeeded", "failed", "cancelled"}, timeout=180)
        assert done["status"] == "succeeded", f"{done['error']}\n{stack.logs()}"
        assert all(p.proc.poll() is None for p in stack.processes), stack.logs()
        worker_log = next(p for p in stack.processes if p.name.startswith("worker")).log.read_text(
            errors="replace"
        )
        assert worker_log.count("dropped unreadable broker message") == 4
        assert not list(queue.glob("*_bad.cpu.msg"))
    finally:
        stack.stop()
