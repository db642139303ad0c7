"""`/v1/completions` (the legacy text completions API) request model; responses reuse `openai.types.Completion`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelport.protocol.chat import (
    SEED_MAX,
    SEED_MIN,
    StreamOptions,
    check_logit_bias,
    check_stop,
    check_stream_options,
)


class CompletionRequest(BaseModel):
    """The body of `POST /v1/completions`."""

    # As for chat: unknown fields kept, known ones of their own type only.
    model_config = ConfigDict(extra="allow", strict=True)

    model: str
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = Field(default=16, ge=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=128)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    logprobs: int | None = Field(default=None, ge=0, le=5)
    echo: bool | None = False
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    seed: int | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX)
    suffix: str | None = None
    user: str | None = None

    _check_stop = field_validator("stop")(check_stop)
    _check_logit_bias = field_validator("logit_bias")(check_logit_bias)
    _check_stream_options = field_validator("stream_options")(check_stream_options)

    def prompts(self) -> list[str | list[int]]:
        """Each prompt of the request: a string or a list of token ids."""
        value = self.prompt
        if isinstance(value, str):
            return [value]
        if value and all(isinstance(item, int) for item in value):
            return [[item for item in value if isinstance(item, int)]]
        return [item for item in value if isinstance(item, str | list)]

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)
