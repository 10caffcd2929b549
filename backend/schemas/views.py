"""Saved-view bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


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
