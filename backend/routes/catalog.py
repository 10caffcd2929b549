from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backend.deps import ReadAuth
from xclab.catalog import catalog_dict

router = APIRouter(tags=["catalog"], dependencies=[ReadAuth])


@router.get("/catalog")
def read_catalog() -> dict[str, Any]:
    """Every task, model, method and recipe the engine offers; forms and clients build on this."""
    return catalog_dict()
