"""A real worker ships a run's console (the traceback of a failure included) and its system metrics to the API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.factories import experiment_named
from tests.support import Stack, digits_spec, start_stack
from worker.console import attempt_first_seq


def test_a_failing_runs_console_with_its_traceback_and_system_metrics_reach_the_api(
    live_stack: Stack,
) -> None:
    with live_stack.client() as client:
        exp = experiment_named(client, "console")
        # A limit above the training-set size fails inside the engine, after training started.
        run = client.post("/runs", json={"experiment_id": exp, "spec": digits_spec(limit=100_000)}).json()
        final = live_stack.wait_for_status(run["id"], {"failed", "succeeded"}, timeout=120)
        assert final["status"] == "failed", live_stack.logs()
        page = client.get(f"/runs/{run['id']}/logs", params={"limit": 5000}).json()
        chunks = page["chunks"]
        assert [c["seq"] for c in chunks] == list(range(len(chunks))) and not page["truncated"]
        stderr = "".join(c["text"] for c in chunks if c["stream"] == "stderr")
        assert f"run {run['id']} attempt 1: digits / small-cnn / erm, seed 0" in stderr
        assert "Traceback (most recent call last)" in stderr, stderr
        assert "exceeds the" in stderr and "training images" in stderr
        # Stored before the run was finished, and nothing can be added now.
        late = client.post(f"/runs/{run['id']}/logs", json={"chunks": [{"seq": 10_000, "text": "x"}]})
        assert late.status_code == 409
        keys = set(client.get(f"/runs/{run['id']}/metrics").json()["keys"])
        assert {"system/cpu_percent", "system/rss_mb", "system/ram_percent"} <= keys
        rss = client.get(f"/runs/{run['id']}/metrics/system/rss_mb").json()["points"]
        assert len(rss) >= 2 and all(p["value"] > 50 for p in rss)  # a process with torch loaded
        assert "system/gpu_util" not in keys  # no CUDA here

        # A retry (attempt 2, same run) appends its console after the first attempt's, numbered apart.
        assert client.post(f"/runs/{run['id']}/retry").status_code == 202
        again = live_stack.wait_for_status(run["id"], {"failed", "succeeded"}, timeout=120)
        assert (again["status"], again["attempt"]) == ("failed", 2)
        more = client.get(f"/runs/{run['id']}/logs", params={"after_seq": page["next_after_seq"]}).json()
        assert more["chunks"] and all(c["seq"] >= attempt_first_seq(2) for c in more["chunks"])
        second = "".join(c["text"] for c in more["chunks"])
        assert (
            f"run {run['id']} attempt 2: digits" in second and "Traceback (most recent call last)" in second
        )


CAPTURE_SCRIPT = """
import logging, os, subprocess, sys
from worker.console import ConsoleCapture
from xclab.client import ApiClient

client = ApiClient(sys.argv[1], sys.argv[2])
capture = ConsoleCapture(client, int(sys.argv[3]), interval=0.2).start()
print("from print", flush=True)
os.write(2, b"raw bytes on fd 2\\n")
subprocess.run([sys.executable, "-c", "print('from a child process')"], check=True)
logging.getLogger("script").warning("a logging record")
print("a nul \\x00 byte and " + "long " * 5000, flush=True)
print("\\x1b[31m" + "\\u2588" * 400_000 + "\\x1b[0m", flush=True)  # a bar 6 bytes per char in JSON: 2.4 MB
capture.stop()
print("after the capture", flush=True)
"""


def test_the_capture_takes_print_raw_fds_children_and_logging_and_passes_them_through(
    live_stack: Stack, tmp_path: Path
) -> None:
    with live_stack.client() as client:
        exp = experiment_named(client, "capture")
        run_id = client.post("/runs", json={"experiment_id": exp}).json()["id"]  # a tracking run: no worker
        script = tmp_path / "capture.py"
        script.write_text(CAPTURE_SCRIPT)
        done = subprocess.run(
            [sys.executable, str(script), live_stack.api_url, live_stack.token, str(run_id)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**live_stack.env, "PYTHONPATH": str(Path.cwd())},
        )
        assert done.returncode == 0, done.stderr
        # Passed through to the process's own output as well.
        assert "from print" in done.stdout and "from a child process" in done.stdout
        assert "raw bytes on fd 2" in done.stderr and "a logging record" in done.stderr
        chunks = client.get(f"/runs/{run_id}/logs", params={"limit": 5000}).json()["chunks"]
    by_stream = {s: "".join(c["text"] for c in chunks if c["stream"] == s) for s in ("stdout", "stderr")}
    assert "from print" in by_stream["stdout"] and "from a child process" in by_stream["stdout"]
    assert "raw bytes on fd 2" in by_stream["stderr"] and "a logging record" in by_stream["stderr"]
    assert "a nul \\x00 byte" in by_stream["stdout"] and by_stream["stdout"].count("long ") == 5000
    assert by_stream["stdout"].count("\u2588") == 400_000  # shipped in batches the API's body limit takes
    assert "after the capture" not in by_stream["stdout"]
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))


TRUNCATION_SCRIPT = """
import sys, time
from worker.console import ConsoleCapture
from xclab.client import ApiClient

capture = ConsoleCapture(ApiClient(sys.argv[1], sys.argv[2]), int(sys.argv[3]), interval=0.1).start()
for i in range(8):
    print(f"line {i} " + "x" * 1000, flush=True)
    time.sleep(0.3)
capture.stop()
print("stopped shipping:", capture._truncated, flush=True)
"""


def test_the_capture_stops_shipping_once_the_api_cut_the_log(tmp_path: Path) -> None:
    stack = start_stack(tmp_path, extra_env={"XCL_MAX_LOG_BYTES_PER_RUN": "2048"})
    try:
        with stack.client() as client:
            run_id = client.post("/runs", json={"experiment_id": experiment_named(client, "cut")}).json()[
                "id"
            ]
            script = tmp_path / "cut.py"
            script.write_text(TRUNCATION_SCRIPT)
            done = subprocess.run(
                [sys.executable, str(script), stack.api_url, stack.token, str(run_id)],
                capture_output=True,
                text=True,
                timeout=120,
                env={**stack.env, "PYTHONPATH": str(Path.cwd())},
            )
            assert done.returncode == 0, done.stderr
            assert "line 7 " in done.stdout and "stopped shipping: True" in done.stdout
            page = client.get(f"/runs/{run_id}/logs").json()
    finally:
        stack.stop()
    text = "".join(c["text"] for c in page["chunks"])
    assert page["truncated"] and "log truncated" in text and "line 7" not in text


def test_a_run_in_a_threads_pool_is_not_captured() -> None:
    """Threads share the process's fds: capturing one run would take in the others' output."""
    import threading

    from worker.console import ConsoleCapture

    class NoApi:
        def append_run_logs(self, run_id: int, chunks: list[dict[str, object]]) -> dict[str, object]:
            raise AssertionError("nothing is shipped")

        def log_metrics(self, run_id: int, points: list[dict[str, object]]) -> int:
            raise AssertionError("nothing is shipped")

    owners: list[bool] = []

    def run() -> None:
        capture = ConsoleCapture(NoApi(), 1).start()
        owners.append(capture._owner)
        capture.stop()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert owners == [False]


def test_a_full_batch_of_worst_case_chunks_fits_the_apis_body_limit() -> None:
    """JSON writes a control character (an ANSI colour's ESC) as 6 bytes: a full batch of such chunks must still
    pass the logs route's body limit, or the API answers 413 and the batch is lost."""
    import re

    import httpx

    from backend.limits import BODY_LIMITS
    from worker.console import BATCH_CHUNKS, CHUNK_CHARS

    limit = next(
        size for method, path, size in BODY_LIMITS if method == "POST" and path.match("/runs/1/logs")
    )
    chunk = {"seq": 2**40, "stream": "stderr", "text": "\x1b" * CHUNK_CHARS, "wall_time": 1.7e9}
    body = httpx.Request("POST", "http://api/runs/1/logs", json={"chunks": [chunk] * BATCH_CHUNKS}).content
    assert re.search(rb"\\u001b", body) and len(body) < limit
