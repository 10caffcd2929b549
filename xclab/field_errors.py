"""Pydantic errors of a flat parameter model as one short message per field that names the field and the fix
("temperature must be > 0", "'mix' must be one of: both, mixup, cutmix"), for specs checked field by field."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


@dataclass(frozen=True)
class FieldProblem:
    field: str | None  # None: a rule across fields
    unknown: bool  # the model has no such field
    msg: str
    input: Any


def field_problems(model: type[BaseModel], exc: ValidationError) -> list[FieldProblem]:
    """The first error of each field (a union reports one per member) in the order pydantic found them."""
    problems: dict[str | None, FieldProblem] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else None
        if field in problems:
            continue
        info = model.model_fields.get(field) if field is not None else None
        if error["type"] == "extra_forbidden":
            problems[field] = FieldProblem(field, True, "", error["input"])
        elif field is None or info is None:
            problems[field] = FieldProblem(
                field, False, error["msg"].removeprefix("Value error, "), error["input"]
            )
        else:
            problems[field] = FieldProblem(field, False, _message(field, info, error["type"]), error["input"])
    return list(problems.values())


def _message(field: str, info: FieldInfo, error_type: str) -> str:
    if error_type in RANGE_ERRORS:
        return f"{field} must be {describe_range(info)}"
    if error_type == "finite_number":
        return f"{field} must be a finite number"
    if error_type == "missing":
        return f"'{field}' is required"
    return f"'{field}' must be {describe_type(info.annotation)}"


def describe_range(info: FieldInfo) -> str:
    """'> 0', '>= 0', 'in [0, 1)' from the field's declared bounds."""
    low = high = None
    for bound in info.metadata:  # annotated_types.Gt / Ge / Lt / Le, as pydantic stores Field(gt=...)
        if getattr(bound, "gt", None) is not None:
            low = ("(", ">", bound.gt)
        elif getattr(bound, "ge", None) is not None:
            low = ("[", ">=", bound.ge)
        elif getattr(bound, "lt", None) is not None:
            high = (")", "<", bound.lt)
        elif getattr(bound, "le", None) is not None:
            high = ("]", "<=", bound.le)
    if low and high:
        return f"in {low[0]}{low[2]:g}, {high[2]:g}{high[0]}"
    if low:
        return f"{low[1]} {low[2]:g}"
    if high:
        return f"{high[1]} {high[2]:g}"
    return "in range"


def describe_type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of: " + ", ".join(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        named = " or ".join(describe_type(a) for a in args if a is not type(None))
        return f"{named} or null" if type(None) in args else named
    if origin is list:
        return "a list of numbers"
    return {float: "a float", int: "an integer", bool: "true or false", str: "a string"}.get(
        annotation, f"a {getattr(annotation, '__name__', annotation)}"
    )
