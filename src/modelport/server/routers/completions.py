"""`POST /v1/completions`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from openai.types import Completion

from modelport.predictor import Task
from modelport.protocol.completions import CompletionRequest
from modelport.runtime import Registry
from modelport.server.dependencies import get_registry, predictor_for
from modelport.server.openapi import event_stream
from modelport.server.sse import sse_response
from modelport.serving.completions import complete, completion_chunks

router = APIRouter()


@router.post(
    "/v1/completions",
    response_model=None,
    responses={
        200: {
            "model": Completion,
            "description": "The completion, or with `stream: true` its chunks as events.",
            "content": event_stream("`text_completion` events, then `data: [DONE]`."),
        }
    },
)
async def create_completion(
    request: CompletionRequest, registry: Annotated[Registry, Depends(get_registry)]
) -> Completion | StreamingResponse:
    predictor = await predictor_for(registry, request.model, Task.CHAT)
    if request.stream:
        return await sse_response(completion_chunks(predictor, request, with_usage=request.include_usage))
    return await complete(predictor, request)
