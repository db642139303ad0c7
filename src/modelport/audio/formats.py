"""The audio formats the server speaks, and the error raised for uploads it cannot decode."""

from __future__ import annotations

from typing import Final, Literal

AudioFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
"""The `response_format` values of OpenAI's `/v1/audio/speech`."""

AUDIO_FORMATS: Final[tuple[AudioFormat, ...]] = ("mp3", "opus", "aac", "flac", "wav", "pcm")

MEDIA_TYPES: Final[dict[AudioFormat, str]] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}

PCM_SAMPLE_RATE: Final = 24_000
"""OpenAI's `pcm` is headerless, so its rate is fixed by convention: 24 kHz, s16le, mono."""


class AudioDecodeError(ValueError):
    """Bytes that could not be decoded as audio; the message is meant for the user who sent them."""
