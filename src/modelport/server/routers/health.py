"""`GET /health` (liveness: the process and its loaded models' engines answer) and `GET /health/ready`
(readiness: the start-up models are loaded and the server is not shutting down)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from modelport.runtime import Registry
from modelport.server.dependencies import get_registry

router = APIRouter()


def _models(registry: Registry) -> dict[str, Any]:
    return {m.name: {"task": m.predictor.spec.task.value, "loaded": m.state == "loaded"} for m in registry.models()}


@router.get("/health")
async def health(registry: Annotated[Registry, Depends(get_registry)], response: Response) -> dict[str, Any]:
    """200 while every model can serve; 503 when one cannot, with the reason its optional `health()` hook
    gives (None while it is well)."""
    models = _models(registry)
    for predictor in registry:
        hook = predictor.hook("health")
        problem = hook() if hook is not None else None
        if problem:
            models[predictor.name]["error"] = str(problem)
    healthy = not any("error" in entry for entry in models.values())
    if not healthy:
        response.status_code = 503
    return {"status": "ok" if healthy else "error", "models": models}


@router.get("/health/ready")
async def ready(request: Request, registry: Annotated[Registry, Depends(get_registry)]) -> JSONResponse:
    """200 once the models marked for start-up are loaded; 503 before that and while shutting down."""
    if request.app.state.drain.draining:
        return JSONResponse({"status": "shutting_down"}, status_code=503)
    if not registry.ready:
        if registry.start_failures:
            failed = {name: registry.model(name).last_error for name in sorted(registry.start_failures)}
            return JSONResponse({"status": "failed", "failed": failed}, status_code=503)
        waiting = [m.name for m in registry.models() if m.policy.at_start and m.state != "loaded"]
        return JSONResponse({"status": "loading", "waiting_for": waiting}, status_code=503)
    return JSONResponse({"status": "ready", "models": _models(registry)})
