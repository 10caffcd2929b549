"""The runs list's query parameters, shared by `GET /runs`, `GET /runs/count` and the front door's runs page
(`backend.fast_search`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from backend.store.run_list import MAX_SEARCH_CHARS

DEFAULT_SORT, DEFAULT_LIMIT, LIMIT_MAX = "-id", 100, 1000

TagQuery = Annotated[
    list[str], Query(description="Only runs carrying this tag; repeat it for runs carrying every one.")
]
ParamQuery = Annotated[
    list[str],
    Query(
        description="Only runs whose param has this value, as key:value (numbers as printed, booleans "
        "true/false); repeat it for runs matching every one."
    ),
]
FieldQuery = Annotated[
    list[str],
    Query(
        description="Only runs whose spec or hparams leaf has this value, as spec.<dotted.path>:value or "
        "hparams.<dotted.path>:value; repeat it for runs matching every one."
    ),
]
SearchQuery = Annotated[
    str,
    Query(
        max_length=MAX_SEARCH_CHARS,
        description="Words (up to 8) that must each appear, case-insensitively, in the run's name, method, "
        "model, task, status, notes or one of its tags; a number or #number also matches the run id.",
    ),
]
