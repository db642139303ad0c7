"""Text-to-speech models: `generate_speech` and `agenerate_speech`, returning the audio and saving it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from modelport.client.base import ClientModel
from modelport.client.config import Capability
from modelport.client.errors import ConfigurationError

__all__ = ["AUDIO_FORMATS", "TextToSpeechModel"]

AUDIO_FORMATS: tuple[str, ...] = ("mp3", "opus", "aac", "flac", "wav", "pcm")
"""The `response_format` values of OpenAI's speech API."""


class TextToSpeechModel(ClientModel):
    """A speech model on an OpenAI-compatible endpoint.

    `config` may hold the endpoint keys and defaults for `speed`, `format` (else the output file's
    extension, else mp3) and `instructions`, plus `extra_body` and `extra_headers`.
    """

    capability = Capability.TEXT_TO_SPEECH
    config_keys = frozenset({"speed", "format", "instructions", "extra_body", "extra_headers"})

    def generate_speech(
        self,
        text: str,
        voice: str,
        output_file: str | os.PathLike[str] | None = None,
        speed: float | None = None,
        format: str | None = None,
    ) -> bytes:
        """The audio of `text` spoken by `voice`; also written to `output_file` when one is given."""
        request = self._request(text, voice, output_file, speed, format)
        with self._guard():
            response = self.client.audio.speech.create(**request)
        audio = response.content
        if output_file is not None:
            Path(output_file).write_bytes(audio)
        return audio

    async def agenerate_speech(
        self,
        text: str,
        voice: str,
        output_file: str | os.PathLike[str] | None = None,
        speed: float | None = None,
        format: str | None = None,
    ) -> bytes:
        """`generate_speech` without blocking the event loop."""
        request = self._request(text, voice, output_file, speed, format)
        async with self._aguard():
            response = await self.async_client.audio.speech.create(**request)
        audio = response.content
        if output_file is not None:
            await asyncio.to_thread(Path(output_file).write_bytes, audio)
        return audio

    def _request(
        self,
        text: str,
        voice: str,
        output_file: str | os.PathLike[str] | None,
        speed: float | None,
        format: str | None,
    ) -> dict[str, Any]:
        chosen = format or self.config.get("format") or _format_of(output_file) or "mp3"
        if chosen not in AUDIO_FORMATS:
            raise ConfigurationError(f"Unknown audio format {chosen!r}; choose one of {', '.join(AUDIO_FORMATS)}.")
        request: dict[str, Any] = {"model": self.model_name, "input": text, "voice": voice, "response_format": chosen}
        speed = speed if speed is not None else self.config.get("speed")
        if speed is not None:
            request["speed"] = speed
        for key in ("instructions", "extra_body", "extra_headers"):
            if self.config.get(key) is not None:
                request[key] = self.config[key]
        return request


def _format_of(output_file: str | os.PathLike[str] | None) -> str | None:
    if output_file is None:
        return None
    suffix = Path(output_file).suffix.lower().removeprefix(".")
    return suffix if suffix in AUDIO_FORMATS else None
