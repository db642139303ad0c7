"""Transcription and translation: an upload decoded and resampled to the predictor's rate, then transcribed.

Request fields reach the predictor's optional parameters of the same name (`language`, `prompt`,
`temperature`, `vad_filter`); the server also sets `task="translate"` for `/v1/audio/translations` and
`word_timestamps=True` when word timestamps are asked for, for predictors that take those parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio.to_thread
import numpy as np
from openai.types.audio import TranscriptionTextDeltaEvent, TranscriptionTextDoneEvent
from pydantic import BaseModel

from modelport.audio import AudioDecodeError, decode_audio
from modelport.errors import InvalidRequestError
from modelport.predictor import TranscriptionSignature
from modelport.protocol.audio import TranscriptionForm, TranslationForm
from modelport.runtime import Predictor
from modelport.serving.arguments import optional_arguments
from modelport.serving.checks import check_transcript
from modelport.transcript import Transcript

_SERVER_FIELDS = {"model", "file", "response_format", "timestamp_granularities", "stream"}


async def _decode(data: bytes, sample_rate: int) -> np.ndarray:
    if not data:
        raise InvalidRequestError("The uploaded file is empty.", param="file", code="empty_file")
    try:
        return await anyio.to_thread.run_sync(decode_audio, data, sample_rate)
    except AudioDecodeError as exc:
        raise InvalidRequestError(str(exc), param="file", code="invalid_audio") from None


def _check_granularities(form: TranslationForm) -> bool:
    """Whether word timestamps are asked for; they need `verbose_json`, as at OpenAI."""
    granularities = form.timestamp_granularities if isinstance(form, TranscriptionForm) else []
    if granularities and form.response_format != "verbose_json":
        raise InvalidRequestError(
            "timestamp_granularities[] needs response_format 'verbose_json'.",
            param="timestamp_granularities",
        )
    return "word" in granularities


async def transcribe(
    predictor: Predictor, form: TranslationForm, data: bytes, *, translate: bool = False
) -> Transcript:
    """The transcript of the uploaded audio (in English when `translate`), its duration always set."""
    signature = predictor.spec.signature
    assert isinstance(signature, TranscriptionSignature)
    words = _check_granularities(form)
    optional = predictor.spec.optional_params()
    if translate and "task" not in optional:
        raise InvalidRequestError(
            f"The model `{form.model}` does not translate; use /v1/audio/transcriptions.",
            param="model",
            code="model_not_supported",
        )
    audio = await _decode(data, signature.sample_rate)
    values = form.model_dump(exclude_unset=True, exclude={"timestamp_granularities"})
    if translate:
        values["task"] = "translate"
    if words:
        values["word_timestamps"] = True
    arguments = optional_arguments(predictor.spec, values, skip=_SERVER_FIELDS | {signature.audio})
    arguments[signature.audio] = audio
    transcript = check_transcript(predictor.name, await predictor.call(**arguments))
    if transcript.duration is None:
        transcript = Transcript(
            text=transcript.text,
            language=transcript.language,
            duration=audio.shape[0] / signature.sample_rate,
            segments=transcript.segments,
            words=transcript.words,
        )
    return transcript


async def transcript_events(transcript: Transcript) -> AsyncIterator[BaseModel]:
    """`transcript.text.delta` per segment (or the whole text), then `transcript.text.done`."""
    deltas = [segment.text for segment in transcript.segments] or [transcript.text]
    for delta in deltas:
        yield TranscriptionTextDeltaEvent(type="transcript.text.delta", delta=delta)
    yield TranscriptionTextDoneEvent(type="transcript.text.done", text=transcript.text)
