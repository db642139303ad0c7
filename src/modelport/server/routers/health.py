"""`GET /health`: liveness and the models that are loaded."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from modelport.runtime import Registry
from modelport.server.dependencies import get_registry

router = APIRouter()


@router.get("/health")
async def health(registry: Annotated[Registry, Depends(get_registry)], response: Response) -> dict[str, Any]:
    """200 while every model can serve; 503 when one cannot, with the reason its optional `health()` hook
    gives (None while it is well)."""
    models: dict[str, Any] = {}
    for predictor in registry:
        entry: dict[str, Any] = {"task": predictor.spec.task.value, "loaded": predictor.loaded}
        hook = predictor.hook("health")
        problem = hook() if hook is not None else None
        if problem:
            entry["error"] = str(problem)
        models[predictor.name] = entry
    healthy = not any("error" in entry for entry in models.values())
    if not healthy:
        response.status_code = 503
    return {"status": "ok" if healthy else "error", "models": models}
