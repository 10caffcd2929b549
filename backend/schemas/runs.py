"""Run bodies: submission, the run as the API shows it, annotations, the worker-facing lifecycle calls."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from backend.limits import ID_MAX
from xclab.spec import RunSpec
from xclab.transport import MAX_PRIORITY

RunStatus = Literal["waiting", "queued", "running", "succeeded", "failed", "cancelled"]


RunKind = Literal["training", "tracking"]
MAX_PARAMS = 200
# Keys as MLflow allows them, without ':' (a search filter is `param=key:value`).
ParamKey = Annotated[str, StringConstraints(min_length=1, max_length=250, pattern=r"^[A-Za-z0-9_.\-/ ]+$")]
ParamValue = Annotated[
    bool
    | int
    | Annotated[float, Field(allow_inf_nan=False)]
    | Annotated[str, StringConstraints(max_length=500)],
    Field(union_mode="smart"),
]
ParamsIn = Annotated[
    dict[ParamKey, ParamValue],
    Field(
        max_length=MAX_PARAMS,
        description=f"Free-form params: at most {MAX_PARAMS}, keys of 1-250 characters from [A-Za-z0-9_.-/ ], "
        "values a string (at most 500 characters), an integer, a finite float or a boolean. A param once set "
        "keeps its value (setting it again to the same value is a no-op).",
    ),
]
RunName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=250)]


class RunCreate(BaseModel):
    """A training run (with a `spec`, queued for a worker) or, without a spec, a tracking run: a script
    elsewhere logs params and metrics to it and finishes it (`POST /runs/{id}/finish`); it starts `running`."""

    model_config = ConfigDict(extra="forbid")
    experiment_id: int = Field(
        ge=-ID_MAX - 1, le=ID_MAX, description=f"An experiment's id (ids are 32-bit: at most {ID_MAX})."
    )
    spec: RunSpec | None = Field(default=None, description="Leave out for a tracking-only run.")
    queue: str | None = Field(
        default=None, pattern=r"^[a-z0-9_-]{1,64}$", description="Default: the server's (training runs only)."
    )
    priority: int = Field(
        default=0, ge=0, le=MAX_PRIORITY, description="0 (default) to 9 (most urgent); honoured on Redis."
    )
    name: RunName | None = Field(default=None, description="A display name (1-250 characters).")
    params: ParamsIn = {}

    @model_validator(mode="after")
    def _queue_needs_a_spec(self) -> RunCreate:
        if self.spec is None and self.queue is not None:
            raise ValueError("queue applies to training runs only: give a spec, or leave queue out")
        return self

    @property
    def kind(self) -> RunKind:
        return "tracking" if self.spec is None else "training"


class ParamsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: ParamsIn


class ParamsOut(BaseModel):
    params: dict[str, bool | int | float | str]


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
    kind: RunKind = "training"
    name: str | None = None
    params: dict[str, bool | int | float | str] = {}
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
    priority: int
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
    environment: dict[str, Any] | None = Field(
        default=None, description="What the run ran on (versions, device, threads, determinism, data hash)."
    )
    rerun_of: int | None = Field(default=None, description="The finished run this one repeats.")


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
    param_keys: list[str] = Field(default=[], description="Param keys present among the runs (exact).")


class CompareOut(BaseModel):
    runs: list[RunOut]
    spec_diff: dict[str, dict[int, Any]] = Field(
        description="Dotted spec paths (and hparams.*) whose values differ: {path: {run id: value}}."
    )
    metric_keys: list[str] = Field(description="Metric keys every compared run has logged.")


class ClaimIn(BaseModel):
    worker_host: str = Field(min_length=1, max_length=255)
    attempt: int | None = None


ERROR_MAX = 20_000


class FinishIn(BaseModel):
    status: Literal["succeeded", "failed", "cancelled"]
    error: str | None = None
    attempt: int | None = Field(
        default=None, description="The attempt the worker ran: refused (409) when the run has moved on since."
    )

    @field_validator("error")
    @classmethod
    def _clip(cls, error: str | None) -> str | None:
        # Clipped, not refused: a worker's long traceback must never keep it from reporting the failure.
        return error if error is None or len(error) <= ERROR_MAX else error[: ERROR_MAX - 3] + "..."


class HeartbeatOut(BaseModel):
    status: RunStatus
    cancel_requested: bool


class Divergence(BaseModel):
    step: int
    key: str
    a: float
    b: float


class ReproductionOut(BaseModel):
    """Run b against run a: exact metric equality (timings aside) and the environment fields that differ."""

    a: int
    b: int
    identical: bool = Field(description="Every metric at every step equal, both succeeded.")
    compared_points: int
    first_divergence: Divergence | None = Field(
        description="The first (step, key) whose values differ: steps in order, keys alphabetically."
    )
    only_in_a: list[str] = Field(description="key@step logged by a only.")
    only_in_b: list[str]
    problems: list[str] = Field(description="Why the runs cannot be identical besides their metrics.")
    environment_diff: dict[str, dict[str, Any]] = Field(
        description="Dotted environment fields whose values differ: {field: {a: value, b: value}}."
    )
