"""`POST /v1/embeddings`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from modelport.config import Settings
from modelport.predictor import Task
from modelport.protocol.embeddings import EmbeddingRequest, EmbeddingResponse
from modelport.runtime import Registry
from modelport.server.bodies import json_body, json_response, read_json
from modelport.server.dependencies import predictor_for
from modelport.server.routes import OnePassRoute
from modelport.serving.embeddings import EmbeddingBatchers, create_embeddings
from modelport.serving.token_vocabularies import TokenVocabulary

router = APIRouter(route_class=OnePassRoute)


# Many small requests at once are this route's load: it runs as a plain endpoint, reading its body and writing
# its answer in one pass each.
@router.post("/v1/embeddings", response_model=EmbeddingResponse)
@json_body(EmbeddingRequest)
async def create_embedding(http: Request) -> Response:
    request = await read_json(http, EmbeddingRequest)
    state = http.app.state
    registry: Registry = state.registry
    batchers: EmbeddingBatchers = state.embedding_batchers
    settings: Settings = state.settings
    predictor = await predictor_for(registry, request.model, Task.EMBEDDINGS)
    names = predictor.spec.names
    vocabulary: TokenVocabulary = next((v for k, v in settings.embedding_token_ids.items() if k in names), "model")
    return json_response(await create_embeddings(predictor, request, batchers, vocabulary))
