"""A run's console: what the training process writes to stdout and stderr, shipped to the API while it runs.

The capture is at the file-descriptor level: fds 1 and 2 are pointed at pipes for the run, so `print`, Python
logging (the worker's handler writes to stderr, the traceback of a failure included), C libraries and child
processes (DDP ranks inherit the fds) all land in the console. A reader thread per stream copies the bytes on to
the original fd, so the worker's own log still shows them, and queues them as numbered chunks on the project's
batching client (`xclab.metric_batcher`): the API stores a chunk once per number, so a retried batch is harmless.

One capture per process at a time, and only from the main thread: a prefork or solo worker runs one run per
process, in its main thread. Runs in a threads pool share the process's fds, so none of them is captured (a
capture would take in the other runs' output too); their output stays in the worker's own log.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import sys
import threading
import time
from typing import Any, Protocol

from xclab.metric_batcher import MetricBatcher

log = logging.getLogger(__name__)

CHUNK_CHARS = 16 * 1024  # well under the API's 65,536 characters per chunk
# Chunks per request, bounded by bytes, not characters: JSON writes a control character (an ANSI colour's ESC) as
# 6 bytes, so a chunk is at most 96 KiB on the wire and 16 of them stay under the API's 2 MiB body limit, which
# answers 413 (dropped for good: the batcher does not retry a 4xx).
BATCH_CHUNKS = 16
ATTEMPT_SEQ_BITS = 40  # 10^12 chunks per attempt
_active = threading.Lock()


class LogSink(Protocol):
    def append_run_logs(self, run_id: int, chunks: list[dict[str, Any]]) -> dict[str, Any]: ...

    def log_metrics(self, run_id: int, points: list[dict[str, Any]]) -> int: ...


def attempt_first_seq(attempt: int) -> int:
    """Where an attempt's chunks start: a retried run (attempt 2, 3, ... under the same id) appends after the
    earlier attempts' console instead of colliding with their numbers, which the API would skip as stored."""
    return (max(1, attempt) - 1) << ATTEMPT_SEQ_BITS


class ConsoleCapture:
    def __init__(self, client: LogSink, run_id: int, *, first_seq: int = 0, interval: float = 1.0) -> None:
        self.run_id = run_id
        self._client = client
        self._truncated = False  # the API's cap is reached: later output stays in the worker's own log
        self._batcher = MetricBatcher(
            client, run_id, interval=interval, max_batch=BATCH_CHUNKS, send=self._ship, what="console chunks"
        )
        self._seq = first_seq  # chunks are numbered from here (see `attempt_first_seq`)
        self._lock = threading.Lock()
        self._saved: dict[int, int] = {}  # fd -> a duplicate of what it pointed at before the run
        self._readers: dict[int, threading.Thread] = {}  # fd -> the thread pumping its pipe
        self._owner = False
        self._handler: logging.Handler | None = None
        self._httpx_level = logging.NOTSET

    def start(self) -> ConsoleCapture:
        if threading.current_thread() is not threading.main_thread():
            log.warning(
                "run %s: runs in a threads pool share stdout/stderr; its console is not captured", self.run_id
            )
            return self
        if not _active.acquire(blocking=False):
            log.warning(
                "run %s: another run's console is captured in this process; this one is not", self.run_id
            )
            return self
        self._owner = True
        _flush_python_streams()
        # The client's request lines (heartbeats, these very log posts) would fill the console and feed
        # themselves: one line per shipped batch, shipped in the next.
        httpx_log = logging.getLogger("httpx")
        self._httpx_level = httpx_log.level
        httpx_log.setLevel(max(logging.WARNING, httpx_log.getEffectiveLevel()))
        if not logging.getLogger().handlers:  # a process without logging set up: its records go to stderr too
            self._handler = logging.StreamHandler(sys.__stderr__)
            self._handler.setFormatter(logging.Formatter("[%(asctime)s: %(levelname)s/%(name)s] %(message)s"))
            logging.getLogger().addHandler(self._handler)
        for fd, stream in ((1, "stdout"), (2, "stderr")):
            try:
                saved = os.dup(fd)
            except OSError:  # no such fd (a daemon without a terminal): nothing to capture
                continue
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            self._saved[fd] = saved
            reader = threading.Thread(
                target=self._pump,
                args=(read_end, saved, stream),
                name=f"console-{stream}-{self.run_id}",
                daemon=True,
            )
            reader.start()
            self._readers[fd] = reader
        return self

    def stop(self, timeout: float = 60) -> None:
        """Give the fds back, ship what is left (waiting up to `timeout`), stop the threads. Never raises."""
        if not self._owner:
            with contextlib.suppress(Exception):
                self._batcher.close(1)  # nothing was queued: this only ends its thread
            return
        try:
            if self._handler is not None:
                logging.getLogger().removeHandler(self._handler)
            logging.getLogger("httpx").setLevel(self._httpx_level)
            _flush_python_streams()
            for fd, saved in self._saved.items():
                os.dup2(saved, fd)  # drops the pipe's write end: its reader sees the end once children let go
            for fd, reader in self._readers.items():
                # A child process still holding the pipe (a straggling data loader) must not hold the run up;
                # its reader keeps the saved fd (closing it could hand the number to another file).
                reader.join(timeout=2)
                if not reader.is_alive():
                    with contextlib.suppress(OSError):
                        os.close(self._saved[fd])
            try:
                self._batcher.close(timeout)
            except Exception as exc:
                log.warning("run %s: console not fully stored: %s", self.run_id, exc)
        finally:
            self._owner = False
            _active.release()

    def __enter__(self) -> ConsoleCapture:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------ reader threads

    def _ship(self, run_id: int, chunks: list[dict[str, Any]]) -> None:
        if self._client.append_run_logs(run_id, chunks).get("truncated"):
            self._truncated = True

    def _pump(self, read_end: int, original: int, stream: str) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        try:
            while True:
                data = os.read(read_end, 65536)
                if not data:
                    break
                with contextlib.suppress(OSError):
                    os.write(original, data)
                self._queue(stream, decoder.decode(data))
            self._queue(stream, decoder.decode(b"", final=True))
        finally:
            os.close(read_end)

    def _queue(self, stream: str, text: str) -> None:
        if not text or self._truncated:
            return
        text = text.replace("\x00", "\\x00")  # the API stores text without NUL characters
        now = time.time()
        with self._lock:
            chunks = []
            for start in range(0, len(text), CHUNK_CHARS):
                chunks.append(
                    {
                        "seq": self._seq,
                        "stream": stream,
                        "text": text[start : start + CHUNK_CHARS],
                        "wall_time": now,
                    }
                )
                self._seq += 1
            with contextlib.suppress(
                RuntimeError
            ):  # output after the capture stopped stays in the worker log
                self._batcher.log_points(chunks)


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
