"""`GET /v1/models`, `GET /v1/models/{id}`, and `POST /v1/models/{id}/load` and `/unload` to manage them.

Each model carries OpenAI's four fields and, as extra fields, its task and lifecycle `state` (loaded,
loading, unloaded, unloading); the OpenAI clients keep unknown fields, so `model.state` reads them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from openai.types import Model

from modelport.runtime import ManagedModel, Registry
from modelport.server.auth import check_admin_key
from modelport.server.dependencies import get_registry

router = APIRouter()


def _model(request: Request, name: str, managed: ManagedModel) -> dict[str, Any]:
    predictor = managed.predictor
    model = Model(id=name, object="model", created=request.app.state.started, owned_by=predictor.spec.owned_by)
    # OpenAI's four fields (the package's type also has an optional one the API leaves out), then ours.
    fields = model.model_dump(exclude_none=True)
    fields.update(task=predictor.spec.task.value, state=managed.state.value)
    if managed.memory_bytes:
        fields["memory_bytes"] = managed.memory_bytes
    if managed.last_error:
        fields["last_error"] = managed.last_error
    return fields


@router.get("/v1/models")
async def list_models(request: Request, registry: Annotated[Registry, Depends(get_registry)]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [_model(request, name, registry.model(name)) for name in registry.names()],
    }


@router.post("/v1/models/{model_id:path}/load", dependencies=[Depends(check_admin_key)])
async def load_model(
    model_id: str, request: Request, registry: Annotated[Registry, Depends(get_registry)]
) -> dict[str, Any]:
    """Load the model now (waiting for it up to the load timeout) and answer with its entry."""
    return _model(request, model_id, await registry.load(model_id))


@router.post("/v1/models/{model_id:path}/unload", dependencies=[Depends(check_admin_key)])
async def unload_model(
    model_id: str, request: Request, registry: Annotated[Registry, Depends(get_registry)]
) -> dict[str, Any]:
    """Unload the model now; 409 while it serves requests."""
    return _model(request, model_id, await registry.unload(model_id))


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(
    model_id: str, request: Request, registry: Annotated[Registry, Depends(get_registry)]
) -> dict[str, Any]:
    return _model(request, model_id, registry.model(model_id))
