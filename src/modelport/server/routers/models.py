"""`GET /v1/models` and `GET /v1/models/{id}`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from openai.types import Model

from modelport.runtime import Registry
from modelport.server.dependencies import get_registry

router = APIRouter()


def _model(request: Request, name: str, registry: Registry) -> dict[str, Any]:
    predictor = registry.get(name)
    model = Model(id=name, object="model", created=request.app.state.started, owned_by=predictor.spec.owned_by)
    # OpenAI's four fields (the package's type also has an optional one the API leaves out), then ours:
    # `task` says which endpoint serves the model, as clients such as the playground need to know.
    return {**model.model_dump(exclude_none=True), "task": predictor.spec.task.value}


@router.get("/v1/models")
async def list_models(request: Request, registry: Annotated[Registry, Depends(get_registry)]) -> dict[str, Any]:
    return {"object": "list", "data": [_model(request, name, registry) for name in registry.names()]}


@router.get("/v1/models/{model_id:path}", response_model=Model, response_model_exclude_none=True)
async def retrieve_model(
    model_id: str, request: Request, registry: Annotated[Registry, Depends(get_registry)]
) -> dict[str, Any]:
    return _model(request, model_id, registry)
