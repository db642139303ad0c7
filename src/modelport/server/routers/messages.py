"""Anthropic's Messages API: `POST /v1/messages` and `POST /v1/messages/count_tokens`.

Errors on these routes come out in Anthropic's shape (see `server.errors`); an `anthropic-version` header
is accepted and not needed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, StreamingResponse

from modelport.predictor import Task
from modelport.protocol.anthropic import CountTokensRequest, MessagesRequest, TokenCount
from modelport.runtime import Registry
from modelport.server.dependencies import get_registry, predictor_for
from modelport.server.errors import anthropic_error_body
from modelport.server.sse import StreamFormat, sse_response
from modelport.serving.anthropic import chat_request_for, count_tokens, create_message, message_events

router = APIRouter()

# Named events; a failure is an `error` event in Anthropic's shape; `message_stop` is the last event.
ANTHROPIC_STREAM = StreamFormat(named=True, error_body=anthropic_error_body, ending=None)


@router.post("/v1/messages", response_model=None)
async def create(
    request: MessagesRequest, registry: Annotated[Registry, Depends(get_registry)]
) -> JSONResponse | StreamingResponse:
    predictor = await predictor_for(registry, request.model, Task.CHAT)
    if request.stream:
        return await sse_response(message_events(predictor, request), ANTHROPIC_STREAM)
    message = await create_message(predictor, request)
    return JSONResponse(message.model_dump(mode="json", exclude_unset=True))


@router.post("/v1/messages/count_tokens")
async def count(request: CountTokensRequest, registry: Annotated[Registry, Depends(get_registry)]) -> TokenCount:
    predictor = await predictor_for(registry, request.model, Task.CHAT)
    return TokenCount(input_tokens=await count_tokens(predictor, chat_request_for(request)))
