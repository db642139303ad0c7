"""`POST /v1/chat/completions`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from openai.types.chat import ChatCompletion

from modelport.predictor import Task
from modelport.protocol.chat import ChatCompletionRequest
from modelport.runtime import Registry
from modelport.server.dependencies import get_registry, predictor_for
from modelport.server.openapi import event_stream
from modelport.server.sse import sse_response
from modelport.serving.voice import VoiceChat

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
    request: ChatCompletionRequest, registry: Annotated[Registry, Depends(get_registry)], http: Request
) -> ChatCompletion | StreamingResponse:
    predictor = await predictor_for(registry, request.model, Task.CHAT)
    # Audio in and out wrap the one chat path; a text-only request goes straight through it.
    voice: VoiceChat = http.app.state.voice
    if request.stream:
        return await sse_response(voice.chat_chunks(predictor, request, with_usage=request.include_usage))
    return await voice.complete_chat(predictor, request)
