"""Voice around the one chat path: transcription before it, speech after it.

A request with `input_audio` parts, an assistant answer sent back by `audio.id`, or `modalities` asking for
audio is rewritten into a text conversation for the chat model (any chat model: a function, the built-in,
an upstream server's); its answer is then spoken. Requests without any of these go straight through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk

from modelport.config import Settings
from modelport.errors import InvalidRequestError
from modelport.predictor import ChatSignature, SpeechSignature, Task
from modelport.protocol.chat import AssistantMessage, ChatCompletionRequest, InputAudioPart, UserMessage
from modelport.runtime import Predictor, Registry
from modelport.serving.chat import chat_chunks, complete_chat
from modelport.serving.speech import resolve_voice
from modelport.serving.voice_input import DEFAULT_TRANSCRIPTION_MODEL, AudioInput, TranscriptCache, chosen_model
from modelport.serving.voice_output import OUTPUT_FORMATS, AudioOutput, spoken_chunks, with_audio
from modelport.serving.voice_store import AudioStore

DEFAULT_SPEECH_MODEL = "hibari"


def _has_voice(request: ChatCompletionRequest) -> bool:
    if request.transcription_model or request.speech_model or "audio" in (request.modalities or ()):
        return True
    for message in request.messages:
        if isinstance(message, AssistantMessage) and message.audio is not None:
            return True
        content = message.content if isinstance(message, UserMessage) else None
        if isinstance(content, list) and any(isinstance(part, InputAudioPart) for part in content):
            return True
    return False


def _has_input_audio(messages: list[dict[str, Any]]) -> bool:
    return any(
        isinstance(part, dict) and part.get("type") == "input_audio"
        for message in messages
        if isinstance(message.get("content"), list)
        for part in message["content"]
    )


class VoiceChat:
    """Chat completions with audio in and out, over the registry's transcription and speech models."""

    def __init__(self, registry: Registry, settings: Settings) -> None:
        self.registry = registry
        self.settings = settings
        self.store = AudioStore(settings.chat_audio_ttl_seconds, settings.chat_audio_ids)
        self.transcripts = TranscriptCache(settings.transcript_cache_size)
        self.input = AudioInput(self.transcripts, self.store, settings.chat_audio_max_bytes)

    async def chat_chunks(
        self, predictor: Predictor, request: ChatCompletionRequest, *, with_usage: bool
    ) -> AsyncIterator[ChatCompletionChunk]:
        """The streamed response; spoken as `delta.audio` when audio is asked for."""
        text_request, output = await self.prepare(predictor, request)
        chunks = chat_chunks(predictor, text_request, with_usage=with_usage)
        if output is not None:
            chunks = spoken_chunks(chunks, output, self.store)
        async for chunk in chunks:
            yield chunk

    async def complete_chat(self, predictor: Predictor, request: ChatCompletionRequest) -> ChatCompletion:
        """The whole response; each choice's `message.audio` holds its spoken answer when audio is asked for."""
        text_request, output = await self.prepare(predictor, request)
        response = await complete_chat(predictor, text_request)
        if output is None:
            return response
        return await with_audio(response, output, self.store)

    async def prepare(
        self, predictor: Predictor, request: ChatCompletionRequest
    ) -> tuple[ChatCompletionRequest, AudioOutput | None]:
        """The request the chat model takes (audio turned into text), and the audio asked for, if any."""
        if not _has_voice(request):
            return request, None
        fields = request.model_dump(exclude_unset=True)
        transcription_name = fields.pop("transcription_model", None)
        speech_name = fields.pop("speech_model", None)
        output: AudioOutput | None = None
        if "audio" in (fields.get("modalities") or ()):
            output = self._output(fields, speech_name)
        elif speech_name is not None:
            self._speech_model(speech_name)
        signature = predictor.spec.signature
        rate = signature.audio_sample_rate if isinstance(signature, ChatSignature) else None
        transcriber = None
        if rate is None and (transcription_name is not None or _has_input_audio(fields["messages"])):
            transcriber = chosen_model(
                self.registry,
                Task.TRANSCRIPTION,
                "transcription_model",
                transcription_name,
                self.settings.transcription_model,
                DEFAULT_TRANSCRIPTION_MODEL,
            )
        await self.input.rewrite(fields["messages"], transcriber, rate)
        return ChatCompletionRequest.model_validate(fields), output

    def _speech_model(self, requested: str | None) -> Predictor:
        return chosen_model(
            self.registry, Task.SPEECH, "speech_model", requested, self.settings.speech_model, DEFAULT_SPEECH_MODEL
        )

    def _output(self, fields: dict[str, Any], speech_name: str | None) -> AudioOutput:
        fields.pop("modalities")
        audio = fields.pop("audio", None)
        if not isinstance(audio, dict) or "voice" not in audio or "format" not in audio:
            raise InvalidRequestError(
                "Audio output (modalities with 'audio') needs the 'audio' parameter with 'voice' and 'format'.",
                param="audio",
            )
        audio_format = OUTPUT_FORMATS.get(str(audio["format"]))
        if audio_format is None:
            raise InvalidRequestError(
                f"Invalid value for 'audio.format': '{audio['format']}'; choose from {', '.join(OUTPUT_FORMATS)}.",
                param="audio.format",
            )
        voice = audio["voice"]
        voice = voice.get("id", "") if isinstance(voice, dict) else str(voice)
        predictor = self._speech_model(speech_name)
        signature = predictor.spec.signature
        if isinstance(signature, SpeechSignature):
            try:
                voice = resolve_voice(signature, voice, self.settings.voice_map, predictor.name)
            except InvalidRequestError as exc:
                raise InvalidRequestError(exc.message, param="audio.voice") from None
        return AudioOutput(predictor=predictor, voice=voice, format=audio_format, voice_map=self.settings.voice_map)
