"""Artifact files on disk under the artifact root, one folder per run; metadata rows in the database.

An upload streams into a temporary file of its own, and only a complete file is renamed over the target, so a
reader never sees half an artifact. One writer per path: a second concurrent upload to the same path is refused
(409) instead of interleaving with the first (an OS lock, released even when the API process dies)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path, PurePosixPath

from backend.errors import Conflict, invalid

CHUNK = 1 << 20
PATH_MAX = 500  # the artifact.path column


def safe_relative_path(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    bad_part = any(part in {"..", ".", ""} or part.startswith(".") for part in path.split("/"))
    if not path or rel.is_absolute() or bad_part or "\\" in path or "\x00" in path or len(path) > PATH_MAX:
        raise invalid(
            ("path", "path"),
            f"artifact path must be relative, at most {PATH_MAX} characters, use '/' separators, and have no "
            "empty, '.' or '..' parts nor parts starting with '.'",
            path[:100],
        )
    return rel


def run_folder(root: Path, run_id: int) -> Path:
    return root / "runs" / str(run_id)


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def exclusive_writer(target: Path, shown: str) -> Iterator[None]:
    """Hold the one writer slot of `target`, or raise Conflict at once when another upload holds it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_file = _lock_path(target)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(f"artifact '{shown}' is being uploaded by another request; retry when it is done")
        yield
    finally:
        os.close(fd)  # closing releases the lock


async def write_temp(target: Path, chunks: AsyncIterator[bytes]) -> tuple[Path, str, int]:
    """Stream into a fresh temporary file next to `target`; returns it with its sha256 and size."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(name)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest.hexdigest(), size


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def remove_files(folder: Path, paths: list[str]) -> None:
    """Delete artifact files of a run (records already dropped), and folders they leave empty."""
    for path in paths:
        target = folder / safe_relative_path(path)
        target.unlink(missing_ok=True)
        (target.parent / f".{target.name}.lock").unlink(
            missing_ok=True
        )  # exclusive_writer's: the run is final
        if target.parent != folder:
            with contextlib.suppress(OSError):  # not empty: other artifacts live there
                target.parent.rmdir()
