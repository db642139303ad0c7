"""`POST /v1/embeddings`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from modelport.predictor import Task
from modelport.protocol.embeddings import EmbeddingRequest, EmbeddingResponse
from modelport.runtime import Registry
from modelport.server.dependencies import get_registry, predictor_for
from modelport.serving.embeddings import EmbeddingBatchers, create_embeddings

router = APIRouter()


@router.post("/v1/embeddings")
async def create_embedding(
    request: EmbeddingRequest, registry: Annotated[Registry, Depends(get_registry)], http: Request
) -> EmbeddingResponse:
    batchers: EmbeddingBatchers = http.app.state.embedding_batchers
    return await create_embeddings(await predictor_for(registry, request.model, Task.EMBEDDINGS), request, batchers)
