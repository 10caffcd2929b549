"""Console log bodies: chunks of a run's stdout and stderr, numbered by the worker."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from backend.limits import INT64_MAX, LOG_CHUNK_CHARS, LOG_CHUNKS_PER_REQUEST


class LogChunkIn(BaseModel):
    seq: int = Field(
        ge=0, le=INT64_MAX, description="The chunk's number; a number already stored is skipped."
    )
    stream: Literal["stdout", "stderr"] = "stdout"
    text: str = Field(min_length=1, max_length=LOG_CHUNK_CHARS)
    wall_time: float | None = Field(default=None, allow_inf_nan=False)


class LogsIn(BaseModel):
    chunks: list[LogChunkIn] = Field(max_length=LOG_CHUNKS_PER_REQUEST)


class LogsWritten(BaseModel):
    written: int = Field(description="Chunks stored by this request (a retried chunk counts 0).")
    truncated: bool = Field(description="The run's log reached its size limit: later chunks are dropped.")


class LogChunkOut(BaseModel):
    seq: int
    stream: str
    text: str
    wall_time: float


class LogPage(BaseModel):
    run_id: int
    chunks: list[LogChunkOut]
    next_after_seq: int = Field(description="Pass as after_seq to read what follows (-1: nothing yet).")
    total_bytes: int
    truncated: bool
