"""`POST /v1/chat/completions`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from openai.types.chat import ChatCompletion

from modelport.predictor import Task
from modelport.protocol.chat import ChatCompletionRequest
from modelport.runtime import Registry
from modelport.server.dependencies import get_registry, predictor_for
from modelport.server.openapi import event_stream
from modelport.server.sse import sse_response
from modelport.serving.chat import chat_chunks, complete_chat

router = APIRouter()


@router.post(
    "/v1/chat/completions",
    response_model=None,
    responses={
        200: {
            "model": ChatCompletion,
            "description": "The completion, or with `stream: true` its chunks as events.",
            "content": event_stream("`chat.completion.chunk` events, then `data: [DONE]`."),
        }
    },
)
async def create_chat_completion(
    request: ChatCompletionRequest, registry: Annotated[Registry, Depends(get_registry)]
) -> ChatCompletion | StreamingResponse:
    predictor = predictor_for(registry, request.model, Task.CHAT)
    if request.stream:
        return await sse_response(chat_chunks(predictor, request, with_usage=request.include_usage))
    return await complete_chat(predictor, request)
