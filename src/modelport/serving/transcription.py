"""Transcription: an upload decoded and resampled to the predictor's rate, then transcribed."""

from __future__ import annotations

import anyio.to_thread

from modelport.audio import AudioDecodeError, decode_audio
from modelport.errors import InvalidRequestError
from modelport.predictor import TranscriptionSignature
from modelport.protocol.audio import TranscriptionForm
from modelport.runtime import Predictor
from modelport.serving.arguments import optional_arguments
from modelport.serving.checks import check_text

_SERVER_FIELDS = {"model", "file", "response_format"}


async def create_transcription(predictor: Predictor, form: TranscriptionForm, data: bytes) -> str:
    """The text of the uploaded audio."""
    signature = predictor.spec.signature
    assert isinstance(signature, TranscriptionSignature)
    if not data:
        raise InvalidRequestError("The uploaded file is empty.", param="file", code="empty_file")
    try:
        audio = await anyio.to_thread.run_sync(decode_audio, data, signature.sample_rate)
    except AudioDecodeError as exc:
        raise InvalidRequestError(str(exc), param="file", code="invalid_audio") from None
    arguments = optional_arguments(
        predictor.spec, form.model_dump(exclude_unset=True), skip=_SERVER_FIELDS | {signature.audio}
    )
    arguments[signature.audio] = audio
    return check_text(predictor.name, await predictor.call(**arguments))
