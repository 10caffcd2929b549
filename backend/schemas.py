"""Request and response bodies of REST API v1."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

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
    tags: list[str] = []
    notes: str = ""


class RunsPage(BaseModel):
    data: list[RunOut]
    next_page_token: str | None


# Stored lower-case and stripped, so "Baseline " and "baseline" are one tag.
Tag = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.:-]+$"
    ),
]
MAX_TAGS = 20


class RunPatch(BaseModel):
    """Researcher annotations; a field left out is left as it is, `tags` replaces the whole set."""

    model_config = ConfigDict(extra="forbid")
    tags: list[Tag] | None = Field(
        default=None, description=f"At most {MAX_TAGS} tags of 1-50 characters from [A-Za-z0-9_.:-]."
    )
    notes: str | None = Field(default=None, max_length=20_000)

    @field_validator("tags")
    @classmethod
    def _distinct_and_few(cls, tags: list[str] | None) -> list[str] | None:
        if tags is None:
            return None
        unique = sorted(set(tags))
        if len(unique) > MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS} tags per run; got {len(unique)}")
        return unique


class RunColumnsOut(BaseModel):
    """What the runs table can show for the filtered runs (spec paths come from the newest runs only)."""

    spec_fields: list[str]
    hparam_fields: list[str]
    metric_keys: list[str]
    tags: list[str]
    sampled_runs: int


class CompareOut(BaseModel):
    runs: list[RunOut]
    spec_diff: dict[str, dict[int, Any]] = Field(
        description="Dotted spec paths (and hparams.*) whose values differ: {path: {run id: value}}."
    )
    metric_keys: list[str] = Field(description="Metric keys every compared run has logged.")


class ViewParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filters: dict[str, Any] = {}
    sort: str = "-id"
    columns: list[str] = []
    page_size: int = Field(default=50, ge=1, le=1000)


class ViewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    params: ViewParams = ViewParams()

    @field_validator("name")
    @classmethod
    def _not_blank(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("a view needs a name")
        return name.strip()


class ViewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    params: ViewParams
    created_at: datetime


class ViewsPage(BaseModel):
    data: list[ViewOut]


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
