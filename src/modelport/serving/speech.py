"""Speech: voice and speed checked against the predictor's signature, samples encoded to the format asked."""

from __future__ import annotations

from typing import Any

import anyio.to_thread

from modelport.audio import MEDIA_TYPES, encode_audio
from modelport.errors import InvalidRequestError
from modelport.predictor import SpeechSignature
from modelport.protocol.audio import SpeechRequest
from modelport.runtime import Predictor
from modelport.serving.arguments import optional_arguments
from modelport.serving.checks import check_audio

_SERVER_FIELDS = {"model", "input", "voice", "response_format", "speed", "stream_format"}


def _voice(predictor: Predictor, signature: SpeechSignature, request: SpeechRequest) -> Any:
    voice = request.voice_name
    if voice not in signature.voices:
        raise InvalidRequestError(
            f"The voice '{voice}' is not served by the model `{request.model}`. "
            f"Valid voices: {', '.join(signature.voices)}.",
            param="voice",
        )
    annotation = next(p.annotation for p in predictor.spec.params if p.name == signature.voice_param)
    # A StrEnum-typed voice receives the enum member, a Literal-typed one the string.
    return annotation(voice) if isinstance(annotation, type) else voice


def _speed(signature: SpeechSignature, request: SpeechRequest) -> dict[str, float]:
    if request.speed is None:
        return {}
    if signature.speed is None or signature.speed_param is None:
        if request.speed == 1.0:
            return {}
        raise InvalidRequestError(
            f"The model `{request.model}` does not support 'speed'.",
            param="speed",
            code="unsupported_parameter",
        )
    low, high = signature.speed.min, signature.speed.max
    if not low <= request.speed <= high:
        raise InvalidRequestError(
            f"'speed' must be between {low} and {high} for the model `{request.model}`, got {request.speed}.",
            param="speed",
        )
    return {signature.speed_param: request.speed}


async def create_speech(predictor: Predictor, request: SpeechRequest) -> tuple[bytes, str]:
    """The encoded audio and its media type."""
    signature = predictor.spec.signature
    assert isinstance(signature, SpeechSignature)
    if request.stream_format == "sse":
        raise InvalidRequestError(
            "stream_format 'sse' is not supported yet; use 'audio'.",
            param="stream_format",
            code="unsupported_value",
        )
    skip = _SERVER_FIELDS | {signature.text, signature.voice_param, signature.speed_param or ""}
    arguments = optional_arguments(predictor.spec, request.model_dump(exclude_unset=True), skip=skip)
    arguments[signature.voice_param] = _voice(predictor, signature, request)
    arguments.update(_speed(signature, request))
    arguments[signature.text] = request.input
    samples = check_audio(predictor.name, await predictor.call(**arguments))
    audio = await anyio.to_thread.run_sync(encode_audio, samples, signature.sample_rate, request.response_format)
    return audio, MEDIA_TYPES[request.response_format]
