"""The analysis views by name: each module registers its function and response model with `register_view`,
and the one route `GET /analytics/{view}` dispatches through `get_view`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from backend.analytics.scope import Scope
from backend.errors import NotFound

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class View:
    name: str
    model: type[BaseModel]
    compute: Callable[[Scope], BaseModel]
    description: str


VIEWS: dict[str, View] = {}


def register_view(name: str, model: type[M]) -> Callable[[Callable[[Scope], M]], Callable[[Scope], M]]:
    """Register a view computed from a scope under the URL name `name`, answering with `model`."""

    def register(compute: Callable[[Scope], M]) -> Callable[[Scope], M]:
        if name in VIEWS:
            raise ValueError(f"analytics view '{name}' is registered twice")
        VIEWS[name] = View(name, model, compute, (inspect.getdoc(compute) or "").split("\n\n")[0])
        return compute

    return register


def get_view(name: str) -> View:
    view = VIEWS.get(name)
    if view is None:
        raise NotFound(f"unknown analytics view '{name}'; allowed: {', '.join(sorted(VIEWS))}")
    return view
