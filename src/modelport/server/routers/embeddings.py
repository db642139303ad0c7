"""`POST /v1/embeddings`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from modelport.config import Settings
from modelport.predictor import Task
from modelport.protocol.embeddings import EmbeddingRequest, EmbeddingResponse
from modelport.runtime import Registry
from modelport.server.dependencies import get_registry, predictor_for
from modelport.serving.embeddings import EmbeddingBatchers, create_embeddings
from modelport.serving.token_vocabularies import TokenVocabulary

router = APIRouter()


@router.post("/v1/embeddings")
async def create_embedding(
    request: EmbeddingRequest, registry: Annotated[Registry, Depends(get_registry)], http: Request
) -> EmbeddingResponse:
    batchers: EmbeddingBatchers = http.app.state.embedding_batchers
    settings: Settings = http.app.state.settings
    predictor = await predictor_for(registry, request.model, Task.EMBEDDINGS)
    names = predictor.spec.names
    vocabulary: TokenVocabulary = next((v for k, v in settings.embedding_token_ids.items() if k in names), "model")
    return await create_embeddings(predictor, request, batchers, vocabulary)
