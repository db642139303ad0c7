"""The one SSE encoder: `data: <json>` per event, an error event on failure, then the stream's ending.

Chat and completions end with `data: [DONE]`, as OpenAI's do. Speech, transcription and image streams end
with their own last event (`speech.audio.done`, `transcript.text.done`, `image_generation.completed`) and
nothing after it: OpenAI sends no `[DONE]` there, and strict parsers of those events fail on one. The
Responses and Anthropic Messages APIs name each event (`event: <type>` before its data) and end with their
own last event too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from modelport.errors import ModelportError, PredictorError

logger = logging.getLogger(__name__)

DONE = "data: [DONE]\n\n"


def _openai_error(error: ModelportError) -> dict[str, Any]:
    return error.to_dict()


@dataclass(frozen=True)
class StreamFormat:
    """How one API frames its events: named or not, the error event's body, and what ends the stream."""

    named: bool = False
    """Put `event: <type>` (the payload's `type` field) before each `data:` line."""
    error_body: Callable[[ModelportError], dict[str, Any]] = _openai_error
    """The payload of the event sent when the stream fails after it started."""
    ending: str | None = DONE
    """Written after the last event, also after an error event; None writes nothing."""

    def encode(self, payload: str, event_type: str | None) -> str:
        if self.named and event_type:
            return f"event: {event_type}\ndata: {payload}\n\n"
        return f"data: {payload}\n\n"


OPENAI = StreamFormat()
# OpenAI's streams that end with their own last event (images, speech, transcriptions): nothing after it.
SELF_ENDING = StreamFormat(ending=None)


def encode_event(event: BaseModel, stream_format: StreamFormat = OPENAI) -> str:
    # by_alias: the openai types name some fields with a trailing underscore (`schema_` is "schema" on the wire).
    payload = event.model_dump_json(exclude_unset=True, by_alias=True)
    return stream_format.encode(payload, getattr(event, "type", None) if stream_format.named else None)


def _encode_error(error: ModelportError, stream_format: StreamFormat) -> str:
    body = stream_format.error_body(error)
    return stream_format.encode(json.dumps(body), str(body.get("type", "error")))


async def _events(
    first: BaseModel | None, rest: AsyncIterator[BaseModel], stream_format: StreamFormat
) -> AsyncIterator[str]:
    try:
        if first is not None:
            yield encode_event(first, stream_format)
            async for event in rest:
                yield encode_event(event, stream_format)
    except ModelportError as exc:
        yield _encode_error(exc, stream_format)
    except Exception as exc:
        logger.exception("stream failed", exc_info=exc)
        yield _encode_error(PredictorError("The stream failed on the server."), stream_format)
    if stream_format.ending:
        yield stream_format.ending


async def sse_response(events: AsyncIterator[BaseModel], stream_format: StreamFormat = OPENAI) -> StreamingResponse:
    """Stream `events`; an error raised before the first event still answers with its own status code."""
    try:
        first: BaseModel | None = await anext(events)
    except StopAsyncIteration:
        first = None
    return StreamingResponse(
        _events(first, events, stream_format),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
