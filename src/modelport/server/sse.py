"""The one SSE encoder: `data: <json>` per event, an error event on failure, then the stream's own ending.

Chat and completions streams end with `data: [DONE]`, as OpenAI's do. Speech and transcription streams end
with their own last event (`speech.audio.done`, `transcript.text.done`) and nothing after it: OpenAI sends
no `[DONE]` there, and strict parsers of those events fail on one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from modelport.errors import ModelportError, PredictorError

logger = logging.getLogger(__name__)

DONE = "data: [DONE]\n\n"


def encode_event(event: BaseModel) -> str:
    return f"data: {event.model_dump_json(exclude_unset=True)}\n\n"


async def _events(first: BaseModel | None, rest: AsyncIterator[BaseModel], ending: str) -> AsyncIterator[str]:
    try:
        if first is not None:
            yield encode_event(first)
            async for event in rest:
                yield encode_event(event)
    except ModelportError as exc:
        yield f"data: {json.dumps(exc.to_dict())}\n\n"
    except Exception as exc:
        logger.exception("stream failed", exc_info=exc)
        yield f"data: {json.dumps(PredictorError('The stream failed on the server.').to_dict())}\n\n"
    if ending:
        yield ending


async def sse_response(events: AsyncIterator[BaseModel], *, done: bool = True) -> StreamingResponse:
    """Stream `events`; an error raised before the first event still answers with its own status code.

    `done` ends the stream with `data: [DONE]` (chat, completions); without it the last event ends it.
    """
    try:
        first: BaseModel | None = await anext(events)
    except StopAsyncIteration:
        first = None
    return StreamingResponse(
        _events(first, events, DONE if done else ""),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
