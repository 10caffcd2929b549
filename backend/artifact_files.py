"""Artifact files on disk under the artifact root, one folder per run; metadata rows in the database."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from backend.errors import invalid

CHUNK = 1 << 20


def safe_relative_path(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if not path or rel.is_absolute() or any(part in {"..", ""} for part in rel.parts) or "\\" in path:
        raise invalid(
            ("path", "path"), "artifact path must be relative, use '/' separators and contain no '..'", path
        )
    return rel


def run_folder(root: Path, run_id: int) -> Path:
    return root / "runs" / str(run_id)


async def write_stream(target: Path, chunks: AsyncIterator[bytes]) -> tuple[str, int]:
    """Write to a temporary file then rename, so a reader never sees half an artifact."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    digest, size = hashlib.sha256(), 0
    try:
        with tmp.open("wb") as fh:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                fh.write(chunk)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return digest.hexdigest(), size
