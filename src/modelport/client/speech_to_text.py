"""Speech-to-text models: `transcribe` and `atranscribe` a recording from a path or an open file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from openai.types.audio import Transcription as WireTranscription

from modelport.client.base import ClientModel
from modelport.client.config import Capability
from modelport.client.errors import ConfigurationError

__all__ = ["AudioInput", "SpeechToTextModel", "Transcription"]

AudioInput = str | os.PathLike[str] | IO[bytes] | bytes
"""A recording: a path, an open binary file, or the file's bytes."""


@dataclass(frozen=True)
class Transcription:
    """What a recording says, and its language when the endpoint reports it or the caller gave it."""

    text: str
    language: str | None = None


class SpeechToTextModel(ClientModel):
    """A transcription model on an OpenAI-compatible endpoint.

    `config` may hold the endpoint keys and defaults for `language`, `prompt` and `temperature`, plus
    `extra_body` and `extra_headers`.
    """

    capability = Capability.SPEECH_TO_TEXT
    config_keys = frozenset({"language", "prompt", "temperature", "extra_body", "extra_headers"})

    def transcribe(
        self, path_or_file: AudioInput, language: str | None = None, prompt: str | None = None
    ) -> Transcription:
        """The text of a recording in any format the endpoint decodes (wav, mp3, ogg, flac, ...)."""
        request = self._request(path_or_file, language, prompt)
        with self._guard():
            response = self.client.audio.transcriptions.create(**request)
        return _result(response, request.get("language"))

    async def atranscribe(
        self, path_or_file: AudioInput, language: str | None = None, prompt: str | None = None
    ) -> Transcription:
        """`transcribe` without blocking the event loop."""
        request = self._request(path_or_file, language, prompt)
        async with self._aguard():
            response = await self.async_client.audio.transcriptions.create(**request)
        return _result(response, request.get("language"))

    def _request(self, path_or_file: AudioInput, language: str | None, prompt: str | None) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.model_name, "file": _file(path_or_file), "response_format": "json"}
        settings = {"language": language, "prompt": prompt}
        for key in ("language", "prompt", "temperature", "extra_body", "extra_headers"):
            value = settings.get(key) if settings.get(key) is not None else self.config.get(key)
            if value is not None:
                request[key] = value
        return request


def _file(path_or_file: AudioInput) -> Any:
    if isinstance(path_or_file, bytes):
        # The name tells the server the format; the bytes' own header is what it decodes by.
        return ("audio", path_or_file)
    if isinstance(path_or_file, (str, os.PathLike)):
        path = Path(path_or_file)
        if not path.is_file():
            raise ConfigurationError(f"No audio file at {path}.")
        return path
    return path_or_file


def _result(response: WireTranscription, requested_language: str | None) -> Transcription:
    # OpenAI's json format carries only the text; servers that detect the language may add it.
    extra = response.model_extra or {}
    detected = extra.get("language")
    return Transcription(text=response.text, language=detected if isinstance(detected, str) else requested_language)
