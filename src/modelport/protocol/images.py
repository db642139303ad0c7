"""`/v1/images/*` request models; responses and stream events reuse the openai package's types."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ImageFormat = Literal["png", "jpeg", "webp"]

# OpenAI's limit for its GPT image models; a model may set a lower one of its own.
MAX_IMAGE_PROMPT = 32_000
MAX_IMAGES = 10


class ImageOptions(BaseModel):
    """The fields every image endpoint shares. Fields that are not OpenAI's (say `seed` or `steps`) are
    kept, and reach the model's parameters of the same name."""

    model_config = ConfigDict(extra="allow")

    model: str
    n: int | None = Field(default=None, ge=1, le=MAX_IMAGES)
    size: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    user: str | None = None


class ImageRequest(ImageOptions):
    """The fields of generations and edits: a prompt, output options, streaming."""

    prompt: str = Field(min_length=1, max_length=MAX_IMAGE_PROMPT)
    output_format: ImageFormat | None = None
    output_compression: int | None = Field(default=None, ge=0, le=100)
    background: Literal["transparent", "opaque", "auto"] | None = None
    quality: str | None = None
    stream: bool | None = None
    partial_images: int | None = Field(default=None, ge=0, le=3)


class ImageGenerationRequest(ImageRequest):
    """The body of `POST /v1/images/generations`."""

    style: str | None = None
    moderation: str | None = None


class ImageEditForm(ImageRequest):
    """The non-file fields of the multipart body of `POST /v1/images/edits`."""

    input_fidelity: str | None = None


class ImageVariationForm(ImageOptions):
    """The non-file fields of the multipart body of `POST /v1/images/variations`."""
