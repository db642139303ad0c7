"""`/v1/completions` (the legacy text completions API) request model; responses reuse `openai.types.Completion`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelport.protocol.chat import StreamOptions, check_stop


class CompletionRequest(BaseModel):
    """The body of `POST /v1/completions`."""

    model_config = ConfigDict(extra="allow")

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
    seed: int | None = None
    suffix: str | None = None
    user: str | None = None

    _check_stop = field_validator("stop")(check_stop)

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
