"""Two pool processes (here: threads) fetching the same teacher checkpoint at once both get it intact."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

from worker.runner import fetch_checkpoint
from xclab.settings import Settings

PAYLOAD = b"checkpoint-bytes" * 4096


class SlowArtifactClient:
    """The two calls fetch_checkpoint makes, answered as the API would, with a download slow enough that the
    two fetches overlap."""

    def __init__(self) -> None:
        self.downloads = 0
        self.both_started = threading.Barrier(2)

    def get_run(self, run_id: int) -> dict[str, Any]:
        digest = hashlib.sha256(PAYLOAD).hexdigest()
        return {"status": "succeeded", "artifacts": [{"path": "model.pt", "sha256": digest}]}

    def download_artifact(self, run_id: int, path: str, target: Path) -> Path:
        self.both_started.wait(timeout=10)
        with target.open("wb") as fh:
            for start in range(0, len(PAYLOAD), 8192):
                fh.write(PAYLOAD[start : start + 8192])
                time.sleep(0.002)
        self.downloads += 1
        return target


def test_concurrent_fetches_of_one_checkpoint_both_succeed(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, _env_file=None)
    client = SlowArtifactClient()
    results: list[Path] = []
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            results.append(fetch_checkpoint(client, 7, settings))  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert client.downloads == 2 and len(set(results)) == 1
    assert results[0].read_bytes() == PAYLOAD
    assert not list(results[0].parent.glob("*.part"))  # no download file left behind
