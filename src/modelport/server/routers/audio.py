"""`POST /v1/audio/speech` and `POST /v1/audio/transcriptions`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import PlainTextResponse, Response
from openai.types.audio import Transcription

from modelport.predictor import Task
from modelport.protocol.audio import SpeechRequest, TranscriptionForm
from modelport.runtime import Registry
from modelport.server.dependencies import get_registry, predictor_for
from modelport.serving.speech import create_speech
from modelport.serving.transcription import create_transcription

router = APIRouter()


@router.post("/v1/audio/speech", response_class=Response)
async def speech(request: SpeechRequest, registry: Annotated[Registry, Depends(get_registry)]) -> Response:
    audio, media_type = await create_speech(predictor_for(registry, request.model, Task.SPEECH), request)
    return Response(content=audio, media_type=media_type)


@router.post("/v1/audio/transcriptions", response_model=None)
async def transcriptions(
    form: Annotated[TranscriptionForm, Form()],
    file: Annotated[UploadFile, File()],
    registry: Annotated[Registry, Depends(get_registry)],
) -> Transcription | PlainTextResponse:
    predictor = predictor_for(registry, form.model, Task.TRANSCRIPTION)
    text = await create_transcription(predictor, form, await file.read())
    if form.response_format == "text":
        return PlainTextResponse(text)
    return Transcription(text=text)
