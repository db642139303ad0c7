"""`GET /health`: liveness and the models that are loaded."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from modelport.runtime import Registry
from modelport.server.dependencies import get_registry

router = APIRouter()


@router.get("/health")
async def health(registry: Annotated[Registry, Depends(get_registry)]) -> dict[str, Any]:
    return {
        "status": "ok",
        "models": {p.name: {"task": p.spec.task.value, "loaded": p.loaded} for p in registry},
    }
