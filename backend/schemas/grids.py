"""Grid bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.schemas.runs import RunStatus
from xclab.grids import GridDefinition


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


class GridsPage(BaseModel):
    data: list[GridOut]


class BuiltinGrid(BaseModel):
    name: str
    yaml: str = Field(description="The grid definition as YAML, ready to submit or adapt.")


class BuiltinGridsPage(BaseModel):
    data: list[BuiltinGrid]
