"""`/v1/chat/completions` request models.

Responses reuse the openai package's own `ChatCompletion` and `ChatCompletionChunk`. Requests need
models of our own: the package's request types are TypedDicts whose `Iterable[...]` fields pydantic
validates into one-shot iterators, which a server cannot read twice.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

MAX_STOP_SEQUENCES = 4
# OpenAI's bound on a logit bias, and the range of a 64-bit signed seed.
MAX_LOGIT_BIAS = 100.0
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1


def check_stop(value: str | list[str] | None) -> str | list[str] | None:
    """OpenAI's limit on `stop` sequences, shared by the chat and legacy completions requests."""
    if isinstance(value, list) and len(value) > MAX_STOP_SEQUENCES:
        raise ValueError(f"stop takes at most {MAX_STOP_SEQUENCES} sequences")
    return value


def check_logit_bias(value: dict[str, float] | None) -> dict[str, float] | None:
    """Each bias a finite number in OpenAI's -100..100; NaN or 1e308 would turn the output to garbage."""
    for key, bias in (value or {}).items():
        if not (math.isfinite(bias) and -MAX_LOGIT_BIAS <= bias <= MAX_LOGIT_BIAS):
            raise ValueError(f"the bias for token {key!r} must be a number from -100 to 100")
    return value


def check_stream_options(value: StreamOptions | None, info: ValidationInfo) -> StreamOptions | None:
    """`stream_options` only with `stream: true`, as OpenAI answers."""
    if value is not None and not info.data.get("stream"):
        raise ValueError("stream_options is only allowed when stream is true")
    return value


class _Wire(BaseModel):
    # Unknown fields are kept, not refused: clients add vendor fields freely. Known fields take their own
    # type only ("2" is not a number, "yes" not a boolean), but an integer is a valid float, as in JSON.
    model_config = ConfigDict(extra="allow", strict=True)


class ImageURL(_Wire):
    url: str
    detail: Literal["auto", "low", "high", "original"] | None = None


class InputAudio(_Wire):
    data: str
    # OpenAI names wav and mp3; the server decodes whatever PyAV reads (flac, ogg, webm, m4a, ...).
    format: Literal["wav", "mp3"] | str


class FileContent(_Wire):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class TextPart(_Wire):
    type: Literal["text"]
    text: str


class ImagePart(_Wire):
    type: Literal["image_url"]
    image_url: ImageURL


class InputAudioPart(_Wire):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FilePart(_Wire):
    type: Literal["file"]
    file: FileContent


class RefusalPart(_Wire):
    type: Literal["refusal"]
    refusal: str


UserContentPart = Annotated[TextPart | ImagePart | InputAudioPart | FilePart, Field(discriminator="type")]
AssistantContentPart = Annotated[TextPart | RefusalPart, Field(discriminator="type")]


class FunctionCall(_Wire):
    name: str
    arguments: str


class ToolCall(_Wire):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class AssistantAudio(_Wire):
    id: str


class SystemMessage(_Wire):
    role: Literal["system"]
    content: str | list[TextPart]
    name: str | None = None


class DeveloperMessage(_Wire):
    role: Literal["developer"]
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(_Wire):
    role: Literal["user"]
    content: str | list[UserContentPart]
    name: str | None = None


class AssistantMessage(_Wire):
    role: Literal["assistant"]
    content: str | list[AssistantContentPart] | None = None
    name: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    audio: AssistantAudio | None = None

    @model_validator(mode="after")
    def _has_content_or_calls(self) -> AssistantMessage:
        if self.content is None and not self.tool_calls and self.function_call is None and self.audio is None:
            raise ValueError("an assistant message needs content or tool_calls")
        return self


class ToolMessage(_Wire):
    role: Literal["tool"]
    content: str | list[TextPart]
    tool_call_id: str


class FunctionMessage(_Wire):
    role: Literal["function"]
    content: str | None
    name: str


ChatMessage = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]


class StreamOptions(_Wire):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class ChatCompletionRequest(_Wire):
    """The body of `POST /v1/chat/completions`, as the OpenAI API reference defines it."""

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=128)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    seed: int | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX)
    user: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    # Not OpenAI's: which models hear `input_audio` parts and speak an audio answer (see serving/voice).
    transcription_model: str | None = None
    speech_model: str | None = None

    _check_stop = field_validator("stop")(check_stop)
    _check_logit_bias = field_validator("logit_bias")(check_logit_bias)
    _check_stream_options = field_validator("stream_options")(check_stream_options)

    @field_validator("top_logprobs")
    @classmethod
    def _top_logprobs_need_logprobs(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and not info.data.get("logprobs"):
            raise ValueError("top_logprobs needs logprobs set to true")
        return value

    @field_validator("response_format")
    @classmethod
    def _check_response_format(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        kind = value.get("type")
        if kind not in ("text", "json_object", "json_schema"):
            raise ValueError("type must be 'text', 'json_object' or 'json_schema'")
        if kind == "json_schema":
            spec = value.get("json_schema")
            if not isinstance(spec, dict):
                raise ValueError("json_schema must be an object with a 'name' and a 'schema'")
            if not isinstance(spec.get("schema", {}), dict) or not isinstance(spec.get("name", ""), str):
                raise ValueError("json_schema.schema must be an object and json_schema.name a string")
        return value

    def message_params(self) -> list[dict[str, Any]]:
        """The messages as plain dicts, shaped like the openai package's `ChatCompletionMessageParam`."""
        return [m.model_dump(exclude_unset=True) for m in self.messages]

    @property
    def choices(self) -> int:
        return self.n or 1

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)
