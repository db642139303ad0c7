"""Speech: voice and speed checked against the predictor's signature, samples encoded to the format asked.

A predictor returns one array, or an iterator of arrays (one per sentence, say) that is encoded and sent
piece by piece as it comes, as an audio body or as `speech.audio.delta` events.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any

import anyio.to_thread
import numpy as np
from pydantic import BaseModel

from modelport.audio import MEDIA_TYPES, AudioStreamEncoder, encode_audio
from modelport.errors import InvalidRequestError
from modelport.predictor import SpeechSignature
from modelport.protocol.audio import SpeechAudioDeltaEvent, SpeechAudioDoneEvent, SpeechRequest, SpeechUsage
from modelport.runtime import Predictor
from modelport.serving.arguments import optional_arguments
from modelport.serving.checks import check_audio, check_audio_piece
from modelport.serving.forward import ForwardedEvent, forward_bytes, forward_events, forwards
from modelport.serving.usage import estimate_tokens

_SERVER_FIELDS = {"model", "input", "voice", "response_format", "speed", "stream_format"}

VoiceMap = Mapping[str, Sequence[str]]


def _signature(predictor: Predictor) -> SpeechSignature:
    signature = predictor.spec.signature
    assert isinstance(signature, SpeechSignature)
    return signature


def voice_aliases(signature: SpeechSignature, voice_map: VoiceMap) -> dict[str, str]:
    """The OpenAI voice names a model answers to, each with the voice of its own it stands for."""
    aliases: dict[str, str] = {}
    for alias, choices in voice_map.items():
        chosen = next((voice for voice in choices if voice in signature.voices), None)
        if chosen is not None and alias not in signature.voices:
            aliases[alias] = chosen
    return aliases


def resolve_voice(signature: SpeechSignature, voice: str, voice_map: VoiceMap, model: str) -> str:
    """`voice` if the model serves it, else the voice an OpenAI name maps to; a 400 listing both otherwise."""
    if voice in signature.voices:
        return voice
    aliases = voice_aliases(signature, voice_map)
    if voice in aliases:
        return aliases[voice]
    valid = ", ".join([*signature.voices, *aliases])
    raise InvalidRequestError(
        f"The voice '{voice}' is not served by the model `{model}`. Valid voices: {valid}.", param="voice"
    )


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


def _arguments(predictor: Predictor, request: SpeechRequest, voice_map: VoiceMap) -> dict[str, Any]:
    signature = _signature(predictor)
    skip = _SERVER_FIELDS | {signature.text, signature.voice_param, signature.speed_param or ""}
    arguments = optional_arguments(predictor.spec, request.model_dump(exclude_unset=True), skip=skip)
    voice = resolve_voice(signature, request.voice_name, voice_map, request.model)
    annotation = next(p.annotation for p in predictor.spec.params if p.name == signature.voice_param)
    # A StrEnum-typed voice receives the enum member, a Literal-typed one the string.
    arguments[signature.voice_param] = annotation(voice) if isinstance(annotation, type) else voice
    arguments.update(_speed(signature, request))
    arguments[signature.text] = request.input
    return arguments


def streams(predictor: Predictor) -> bool:
    """Whether the predictor yields its audio piece by piece (a forwarding one relays it as it comes)."""
    return forwards(predictor) or _signature(predictor).streams


async def speech_samples(
    predictor: Predictor, request: SpeechRequest, voice_map: VoiceMap
) -> AsyncIterator[np.ndarray]:
    """The checked sample arrays, one per piece a streaming predictor yields (or the one array)."""
    arguments = _arguments(predictor, request, voice_map)
    if not streams(predictor):
        yield check_audio(predictor.name, await predictor.call(**arguments))
        return
    produced = False
    async for piece in predictor.stream(**arguments):
        samples = check_audio_piece(predictor.name, piece)
        if samples.shape[0]:
            produced = True
            yield samples
    if not produced:
        check_audio(predictor.name, np.zeros(0, np.float32))


async def create_speech(predictor: Predictor, request: SpeechRequest, voice_map: VoiceMap) -> tuple[bytes, str]:
    """The whole encoded audio and its media type."""
    pieces = [samples async for samples in speech_samples(predictor, request, voice_map)]
    samples = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
    rate = _signature(predictor).sample_rate
    audio = await anyio.to_thread.run_sync(encode_audio, samples, rate, request.response_format)
    return audio, MEDIA_TYPES[request.response_format]


async def speech_bytes(
    predictor: Predictor, request: SpeechRequest, voice_map: VoiceMap
) -> AsyncGenerator[bytes, None]:
    """The encoded audio, a piece at a time as the predictor produces it (empty pieces left out)."""
    if forwards(predictor):
        async for data in forward_bytes(predictor, "audio/speech", request.model_dump(exclude_unset=True)):
            yield data
        return
    encoder = AudioStreamEncoder(_signature(predictor).sample_rate, request.response_format)
    async for samples in speech_samples(predictor, request, voice_map):
        data = await anyio.to_thread.run_sync(encoder.encode, samples)
        if data:
            yield data
    tail = await anyio.to_thread.run_sync(encoder.close)
    if tail:
        yield tail


async def speech_events(predictor: Predictor, request: SpeechRequest, voice_map: VoiceMap) -> AsyncIterator[BaseModel]:
    """`speech.audio.delta` events with base64 audio, then `speech.audio.done` with the usage."""
    if forwards(predictor):
        async for event in forward_events(predictor, "audio/speech", request.model_dump(exclude_unset=True)):
            yield ForwardedEvent(**event)
        return
    async for data in speech_bytes(predictor, request, voice_map):
        yield SpeechAudioDeltaEvent(type="speech.audio.delta", audio=base64.b64encode(data).decode("ascii"))
    # No tokenizer here: input tokens are estimated from the text, and the audio is not counted in tokens.
    tokens = estimate_tokens(request.input)
    yield SpeechAudioDoneEvent(
        type="speech.audio.done", usage=SpeechUsage(input_tokens=tokens, output_tokens=0, total_tokens=tokens)
    )
