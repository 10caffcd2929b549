"""Metric bodies."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MetricIn(BaseModel):
    key: str = Field(min_length=1, max_length=250, pattern=r"^[A-Za-z0-9_.\-/]+$")
    step: int = Field(ge=0)
    value: float = Field(allow_inf_nan=False)
    wall_time: float | None = Field(default=None, allow_inf_nan=False)  # also refuses "inf" and "nan" strings


class MetricsIn(BaseModel):
    metrics: list[MetricIn] = Field(max_length=10_000)


class MetricsWritten(BaseModel):
    written: int


class MetricPointOut(BaseModel):
    step: int
    value: float
    wall_time: float | None = Field(default=None, description="Only with ?wall_time=true.")


class MetricHistory(BaseModel):
    run_id: int
    key: str
    points: list[MetricPointOut]


class MetricKeys(BaseModel):
    keys: list[str]
