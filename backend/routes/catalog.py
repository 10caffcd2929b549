from __future__ import annotations

from fastapi import APIRouter

from backend.deps import ReadAuth
from backend.schemas.system import CatalogOut
from xclab.catalog import catalog_dict

router = APIRouter(tags=["catalog"], dependencies=[ReadAuth])


@router.get("/catalog")
def read_catalog() -> CatalogOut:
    """Every task, model, method and recipe the engine offers; forms and clients build on this."""
    return CatalogOut.model_validate(catalog_dict())
