"""Map the API's 422 errors onto the Launch form's fields, so each message shows under its widget."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

GENERAL = "general"

# Path inside the request body -> form field. The longest matching prefix wins, so
# ("spec", "model", "width") beats ("spec", "model").
_FIELDS: dict[tuple[str, ...], str] = {
    ("experiment_id",): "experiment",
    ("name",): "experiment",  # POST /experiments (the "new experiment" name)
    ("description",): "experiment",
    ("spec", "task"): "task",
    ("spec", "model"): "model",
    ("spec", "model", "width"): "width",
    ("spec", "method"): "method",
    ("spec", "teachers"): "teachers",
    ("spec", "recipe"): "recipe",
    ("spec", "overrides"): "recipe",
    ("spec", "seed"): "seed",
    ("spec", "epochs"): "epochs",
    ("spec", "limit"): "limit",
}


def param_field(param: str) -> str:
    """The form field of one method parameter (they are flat fields of spec.method)."""
    return f"method_{param}"


def field_for_loc(loc: Sequence[Any]) -> str:
    """The form field an error's `loc` (e.g. ["body", "spec", "model", "width"]) concerns."""
    path = tuple(str(p) for p in loc)
    if path[:1] == ("body",):
        path = path[1:]
    if len(path) > 2 and path[:2] == ("spec", "method") and path[2] != "name":
        return param_field(path[2])
    for n in range(len(path), 0, -1):
        field = _FIELDS.get(path[:n])
        if field:
            return field
    return GENERAL


def errors_by_field(errors: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """Group FastAPI-shaped errors by form field, keeping the API's own messages."""
    grouped: dict[str, list[str]] = {}
    for error in errors:
        field = field_for_loc(error.get("loc", []))
        grouped.setdefault(field, []).append(str(error.get("msg", error)))
    return grouped
