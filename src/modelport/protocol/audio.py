"""`/v1/audio/*` request models and events; transcription responses reuse the openai package's types."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelport.protocol.text import Text

SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
TranscriptionFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]

MAX_SPEECH_INPUT = 4096

# The form fields that may be null (left out), as the OpenAPI document declares them.
_NULLABLE = {"prompt", "temperature", "vad_filter", "language", "stream"}


class SpeechRequest(BaseModel):
    """The body of `POST /v1/audio/speech`."""

    model_config = ConfigDict(extra="allow")

    model: Text
    input: Text = Field(min_length=1, max_length=MAX_SPEECH_INPUT)
    voice: Text | dict[str, Text]
    instructions: Text | None = None
    response_format: SpeechFormat = "mp3"
    speed: float | None = None
    stream_format: Literal["audio", "sse"] | None = None

    @property
    def voice_name(self) -> str:
        # Custom voices arrive as {"id": "..."}.
        return self.voice if isinstance(self.voice, str) else self.voice.get("id", "")


class TranslationForm(BaseModel):
    """The non-file fields of the multipart body of `POST /v1/audio/translations`."""

    # Unknown fields are kept, for a model's own parameters and for forwarding to an upstream.
    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: Any) -> Any:
        # A multipart field is text: a client that writes a null field sends the word `null`; it means unset.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if not (value == "null" and key in _NULLABLE)}
        return data

    model: Text
    prompt: Text | None = None
    response_format: TranscriptionFormat = "json"
    temperature: float | None = Field(default=None, ge=0, le=1)
    vad_filter: bool | None = None
    """Not OpenAI's: skip the stretches without speech before transcribing (models with a `vad_filter`)."""


class TranscriptionForm(TranslationForm):
    """The non-file fields of the multipart body of `POST /v1/audio/transcriptions`."""

    language: Text | None = None
    timestamp_granularities: list[Literal["word", "segment"]] = Field(
        default_factory=list, alias="timestamp_granularities[]"
    )
    stream: bool | None = None


class SpeechUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class SpeechAudioDeltaEvent(BaseModel):
    """A piece of the audio of a `stream_format=sse` speech response, base64-encoded."""

    type: Literal["speech.audio.delta"] = "speech.audio.delta"
    audio: str


class SpeechAudioDoneEvent(BaseModel):
    """The last event of a `stream_format=sse` speech response."""

    type: Literal["speech.audio.done"] = "speech.audio.done"
    usage: SpeechUsage


class SpeechModelVoices(BaseModel):
    """One speech model's voices, and the OpenAI voice names it answers to."""

    model: str
    voices: list[str]
    aliases: dict[str, str]


class VoiceList(BaseModel):
    """The body of `GET /v1/audio/voices`."""

    object: Literal["list"] = "list"
    data: list[SpeechModelVoices]
