"""Bodies of the service's own endpoints: health and the catalog."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class DatabaseHealth(BaseModel):
    ok: bool
    detail: str
    dialect: str
    revision: str | None
    head: str | None


class BrokerHealth(BaseModel):
    ok: bool
    detail: str
    transport: str


class LiveOut(BaseModel):
    status: Literal["ok"]
    version: str


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: DatabaseHealth
    broker: BrokerHealth


# The catalog is the core's data (xclab.catalog); these models describe it for OpenAPI. extra="allow": a field
# the catalog gains is served at once, before it is described here.
class _CatalogEntry(BaseModel):
    model_config = ConfigDict(extra="allow")


class PrimaryMetricOut(_CatalogEntry):
    key: str
    goal: Literal["max", "min"]


class TaskOut(_CatalogEntry):
    name: str
    kind: Literal["classification", "regression"]
    primary_metric: PrimaryMetricOut
    num_outputs: int
    description: str


class ModelOut(_CatalogEntry):
    name: str
    tasks: list[str]
    description: str
    scalable_width: bool


class MethodOut(_CatalogEntry):
    name: str
    needs_teachers: bool
    description: str
    params: dict[str, Any]
    uses_generator: bool
    trains_generator: bool
    needs_class_labels: bool
    transfer_set: Literal["original", "extended"] | None


class RecipeOut(_CatalogEntry):
    name: str
    task: str
    model: str
    description: str
    hparams: dict[str, Any]


class CatalogOut(_CatalogEntry):
    tasks: list[TaskOut]
    models: list[ModelOut]
    methods: list[MethodOut]
    recipes: list[RecipeOut]
