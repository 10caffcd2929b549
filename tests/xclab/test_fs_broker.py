"""The embedded broker drops unreadable message files (logged) and keeps delivering the good ones."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from xclab.settings import Settings
from xclab.transport import TASK_EXECUTE_RUN, create_celery

BAD = [
    b"",  # empty
    b'{"body": "eyJ',  # truncated JSON
    b"\xff\xfe not json",
    b"[1, 2, 3]",  # JSON, not a message
    json.dumps({"body": "e30=", "properties": {"body_encoding": "base64"}}).encode(),  # no delivery tag
    json.dumps({"body": "e30=", "properties": "x"}).encode(),
]


def test_bad_message_files_are_dropped_and_good_ones_delivered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(home=tmp_path / "home", _env_file=None)
    app = create_celery(settings)
    queue_dir = settings.broker_folder / "queue"
    for i, raw in enumerate(BAD):
        (queue_dir / f"0000{i}_bad.cpu.msg").write_bytes(raw)  # sorted first: polled before the good one
    app.send_task(TASK_EXECUTE_RUN, args=[7, 1], queue="cpu")
    assert not list(queue_dir.glob("*.part"))
    with caplog.at_level(logging.ERROR), app.connection_for_read() as conn:
        payload = conn.default_channel._get("cpu")
        assert payload["headers"]["task"] == TASK_EXECUTE_RUN and "[7, 1]" in payload["headers"]["argsrepr"]
        assert sum("dropped unreadable broker message" in r.message for r in caplog.records) == len(BAD)
        assert list(queue_dir.glob("*.msg")) == []
