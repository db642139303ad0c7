"""`/v1/audio/*` request models; transcription responses reuse the openai package's types."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
TranscriptionFormat = Literal["json", "text"]

MAX_SPEECH_INPUT = 4096


class SpeechRequest(BaseModel):
    """The body of `POST /v1/audio/speech`."""

    model_config = ConfigDict(extra="allow")

    model: str
    input: str = Field(min_length=1, max_length=MAX_SPEECH_INPUT)
    voice: str | dict[str, str]
    instructions: str | None = None
    response_format: SpeechFormat = "mp3"
    speed: float | None = None
    stream_format: Literal["audio", "sse"] | None = None

    @property
    def voice_name(self) -> str:
        # Custom voices arrive as {"id": "..."}.
        return self.voice if isinstance(self.voice, str) else self.voice.get("id", "")


class TranscriptionForm(BaseModel):
    """The non-file fields of the multipart body of `POST /v1/audio/transcriptions`."""

    model: str
    language: str | None = None
    prompt: str | None = None
    response_format: TranscriptionFormat = "json"
    temperature: float | None = Field(default=None, ge=0, le=1)
