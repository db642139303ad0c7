"""`/v1/audio/speech`, `/v1/audio/transcriptions`, `/v1/audio/translations` and `/v1/audio/voices`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from openai.types.audio import Transcription, TranscriptionVerbose, Translation, TranslationVerbose
from pydantic import BaseModel

from modelport.audio import MEDIA_TYPES
from modelport.config import Settings
from modelport.predictor import Task
from modelport.protocol.audio import SpeechRequest, TranscriptionForm, TranslationForm, VoiceList
from modelport.runtime import Registry
from modelport.server.dependencies import get_registry, predictor_for
from modelport.server.openapi import SPEECH_CONTENT, event_stream
from modelport.server.sse import SELF_ENDING, sse_response
from modelport.serving.speech import create_speech, speech_bytes, speech_events, streams
from modelport.serving.transcript_formats import render
from modelport.serving.transcription import TimeLimit, transcribe, transcript_events
from modelport.serving.voices import voice_lists

logger = logging.getLogger(__name__)

router = APIRouter()


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _stream_body(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    # Closing `rest` at once (say, when the client goes away) closes the model's generator too.
    async with contextlib.aclosing(rest):
        yield first
        try:
            async for data in rest:
                yield data
        except Exception:
            # The status line is gone: all that is left is to end the body early (the client sees it short).
            logger.exception("speech stream failed")


@router.post(
    "/v1/audio/speech",
    response_class=Response,
    responses={200: {"description": "The audio in `response_format`, or events.", "content": SPEECH_CONTENT}},
)
async def speech(
    request: SpeechRequest,
    registry: Annotated[Registry, Depends(get_registry)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    predictor = await predictor_for(registry, request.model, Task.SPEECH)
    if request.stream_format == "sse":
        return await sse_response(speech_events(predictor, request, settings.voice_map), SELF_ENDING)
    if streams(predictor):
        # The first piece is made before the status is sent, so a bad request still gets its 400.
        chunks = speech_bytes(predictor, request, settings.voice_map)
        first = await anext(chunks)
        return StreamingResponse(_stream_body(first, chunks), media_type=MEDIA_TYPES[request.response_format])
    audio, media_type = await create_speech(predictor, request, settings.voice_map)
    return Response(content=audio, media_type=media_type)


@router.get("/v1/audio/voices")
async def voices(
    registry: Annotated[Registry, Depends(get_registry)],
    settings: Annotated[Settings, Depends(get_settings)],
    model: str | None = None,
) -> VoiceList:
    """Each speech model's voices (only `model`'s, when given), and the OpenAI voice names that map onto them.
    An upstream server's speech model lists the voices its server gives, else OpenAI's voice names."""
    return VoiceList(data=await voice_lists(registry, settings.voice_map, model))


async def _read_upload(file: UploadFile) -> bytes:
    """The uploaded bytes; the file is closed at once, even when the request is cancelled meanwhile (a large
    upload is spooled to disk, and closing it then takes a thread that a cancelled request cannot start)."""
    try:
        return await file.read()
    finally:
        with anyio.CancelScope(shield=True):
            await file.close()


def _time_limit(settings: Settings) -> TimeLimit:
    return TimeLimit(settings.transcription_time_floor, settings.transcription_time_per_second)


def _respond(body: BaseModel | str) -> Response:
    if isinstance(body, str):
        return PlainTextResponse(body)
    return JSONResponse(body.model_dump(exclude_none=True))


@router.post(
    "/v1/audio/transcriptions",
    response_model=None,
    responses={
        200: {
            "model": Transcription | TranscriptionVerbose,
            "description": "json and verbose_json are JSON; text, srt and vtt plain text; `stream` events.",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                **event_stream("`transcript.text.delta` events, then one `transcript.text.done`."),
            },
        }
    },
)
async def transcriptions(
    form: Annotated[TranscriptionForm, Form()],
    file: Annotated[UploadFile, File()],
    registry: Annotated[Registry, Depends(get_registry)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    predictor = await predictor_for(registry, form.model, Task.TRANSCRIPTION)
    limit = _time_limit(settings)
    data = await _read_upload(file)
    if form.stream:
        return await sse_response(transcript_events(predictor, form, data, file.filename, limit=limit), SELF_ENDING)
    transcript = await transcribe(predictor, form, data, limit=limit, filename=file.filename)
    granularities = form.timestamp_granularities
    words = "word" in granularities
    segments = not granularities or "segment" in granularities
    return _respond(render(transcript, form.response_format, words=words, translation=False, segments=segments))


@router.post(
    "/v1/audio/translations",
    response_model=None,
    responses={
        200: {
            "model": Translation | TranslationVerbose,
            "description": "json and verbose_json are JSON; text, srt and vtt plain text.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def translations(
    form: Annotated[TranslationForm, Form()],
    file: Annotated[UploadFile, File()],
    registry: Annotated[Registry, Depends(get_registry)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    predictor = await predictor_for(registry, form.model, Task.TRANSCRIPTION)
    data = await _read_upload(file)
    transcript = await transcribe(
        predictor, form, data, translate=True, limit=_time_limit(settings), filename=file.filename
    )
    return _respond(render(transcript, form.response_format, words=False, translation=True))
