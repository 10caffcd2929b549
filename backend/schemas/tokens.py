"""API token bodies: the token itself appears only in the answer to its creation."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["admin", "user", "worker"]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="Who or what holds it, e.g. 'gpu-worker-1'.")
    role: Role


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The bearer token; shown this once, only its sha256 is stored.")


class WhoAmI(BaseModel):
    role: Role
    name: str
    auth: bool = Field(description="False when the API accepts every request (--insecure-no-auth).")


class TokensPage(BaseModel):
    data: list[TokenOut]
