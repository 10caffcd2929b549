"""Worker inventory bodies: what a worker reports about itself, and the fleet as the API shows it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

MAX_GPUS = 64


class GpuInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0, le=1023)
    name: str = Field(min_length=1, max_length=200, description="e.g. 'NVIDIA H100 80GB HBM3'")
    memory_mb: int = Field(ge=0, le=10_000_000)


class WorkerReport(BaseModel):
    """Sent by a worker on start and on every inventory heartbeat (an upsert by name)."""

    model_config = ConfigDict(extra="forbid")
    host: str = Field(min_length=1, max_length=255)
    queues: list[str] = Field(min_length=1, max_length=32)
    gpus: list[GpuInfo] = Field(default_factory=list, max_length=MAX_GPUS)
    slots: int = Field(ge=1, le=1024, description="Runs it executes at once (its concurrency).")
    running: list[int] = Field(default_factory=list, max_length=1024)
    software: dict[str, str] = Field(default_factory=dict, max_length=32)
    state: str = Field(default="online", pattern="^(online|stopped)$")


class WorkerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    host: str
    queues: list[str]
    gpus: list[GpuInfo]
    slots: int
    running: list[int]
    software: dict[str, str]
    state: str
    started_at: datetime
    last_seen: datetime
    stale: bool = Field(
        default=False, description="No heartbeat for longer than the stale timeout (or stopped)."
    )


class WorkersPage(BaseModel):
    data: list[WorkerOut]
    stale_after_s: float
