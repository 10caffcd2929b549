"""Request and response bodies of REST API v1."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from xclab.grids import GridDefinition
from xclab.spec import RunSpec

RunStatus = Literal["waiting", "queued", "running", "succeeded", "failed", "cancelled"]


class ExperimentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""


class ExperimentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    description: str
    created_at: datetime
    run_count: int = 0


class ExperimentsPage(BaseModel):
    data: list[ExperimentOut]


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    experiment_id: int
    spec: RunSpec
    queue: str | None = Field(
        default=None, pattern=r"^[a-z0-9_-]{1,64}$", description="Default: the server's."
    )


class ArtifactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    path: str
    kind: str
    sha256: str
    size: int
    created_at: datetime
    url: str = ""


class RunOut(BaseModel):
    id: int
    experiment_id: int
    grid_id: int | None = None
    cell: str | None = None
    generator_run: int | None = None
    spec: dict[str, Any]
    hparams: dict[str, Any]
    task: str
    method: str
    model: str
    status: RunStatus
    attempt: int
    queue: str
    worker_host: str | None
    cancel_requested: bool
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    teachers: list[int]
    primary_metric: str | None
    summary: dict[str, float]
    artifacts: list[ArtifactOut] = []


class RunsPage(BaseModel):
    data: list[RunOut]
    next_page_token: str | None


class ClaimIn(BaseModel):
    worker_host: str = Field(min_length=1, max_length=255)
    attempt: int | None = None


class FinishIn(BaseModel):
    status: Literal["succeeded", "failed", "cancelled"]
    error: str | None = None


class HeartbeatOut(BaseModel):
    status: RunStatus
    cancel_requested: bool


class MetricIn(BaseModel):
    key: str = Field(min_length=1, max_length=250, pattern=r"^[A-Za-z0-9_.\-/]+$")
    step: int = Field(ge=0)
    value: float = Field(allow_inf_nan=False)
    wall_time: float | None = None


class MetricsIn(BaseModel):
    metrics: list[MetricIn] = Field(max_length=10_000)


class MetricsWritten(BaseModel):
    written: int


class MetricPointOut(BaseModel):
    step: int
    value: float


class MetricHistory(BaseModel):
    run_id: int
    key: str
    points: list[MetricPointOut]


class MetricKeys(BaseModel):
    keys: list[str]


class GridCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition: GridDefinition
    experiment_id: int | None = Field(
        default=None, description="Default: the experiment named in the definition."
    )


class GridCellOut(BaseModel):
    key: str
    role: Literal["teacher", "generator", "student"]
    run_id: int
    status: RunStatus
    attempt: int
    primary_metric: float | None
    error: str | None
    teachers: list[int]
    generator_run: int | None


class GridOut(BaseModel):
    id: int
    experiment_id: int
    name: str
    task: str
    definition: dict[str, Any]
    created_at: datetime
    counts: dict[str, int]
    done: bool
    cells: list[GridCellOut]
