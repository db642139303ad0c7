"""`/v1/embeddings` request and response models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelport.protocol.text import Text, no_lone_surrogates


class EmbeddingRequest(BaseModel):
    """The body of `POST /v1/embeddings`."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    model: Text
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None
    # Extensions beyond OpenAI's API; the openai client sends them through `extra_body`.
    truncate: bool = False
    """Cut inputs over the model's maximum length at the limit instead of answering 400."""
    input_type: Text | None = None
    """The task prefix to apply (say "query" or "document"), for models that declare input types."""

    @field_validator("input", mode="before")
    @classmethod
    def _real_text(cls, value: Any) -> Any:
        # Checked before the union is tried, so the error says what is wrong rather than which member failed.
        for text in [value] if isinstance(value, str) else value if isinstance(value, list) else ():
            if isinstance(text, str):
                no_lone_surrogates(text)
        return value


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    # A list of floats, or base64 of the little-endian float32 bytes.
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: EmbeddingUsage
