"""Image generations, edits and variations: request fields → the model's arguments → encoded images.

A model returns one image or a list; one without an `n` parameter is called until it has made `n`. A
streaming model yields previews before its result: `stream=true` sends them as partial-image events.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import inspect
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio.to_thread
from openai.types import Image as ImageData
from openai.types import (
    ImageEditCompletedEvent,
    ImageEditPartialImageEvent,
    ImageGenCompletedEvent,
    ImageGenPartialImageEvent,
    ImagesResponse,
)
from openai.types.images_response import Usage, UsageInputTokensDetails
from PIL import Image
from pydantic import BaseModel

from modelport.errors import InvalidRequestError
from modelport.predictor import ImageInput, ImageSignature
from modelport.protocol.images import MAX_IMAGES, ImageOptions, ImageRequest
from modelport.runtime import Predictor
from modelport.serving.arguments import optional_arguments
from modelport.serving.checks import check_image_size, check_images
from modelport.serving.image_codec import as_kind, decode_image, encode_image
from modelport.serving.usage import estimate_tokens

Operation = Literal["generation", "edit", "variation"]
# Keeps a file for `response_format=url` and returns its URL (the server knows the host).
Publish = Callable[[bytes, str], str]

_SERVER_FIELDS = {
    "model",
    "prompt",
    "n",
    "size",
    "response_format",
    "output_format",
    "output_compression",
    "stream",
    "partial_images",
    "user",
    "image",
    "mask",
}
# How soon after an item a stream must end for that item to be its last (see `_with_last`).
LAST_ITEM_GRACE = 0.05
_END = object()
_QUALITIES = {"low", "medium", "high", "xhigh", "max", "auto"}
_ENDPOINTS = {"generation": "/v1/images/generations", "edit": "/v1/images/edits", "variation": "/v1/images/variations"}


@dataclass
class ImageJob:
    """One request to an image endpoint: its fields and its uploads, still encoded."""

    operation: Operation
    request: ImageOptions
    images: Sequence[bytes] = ()
    mask: bytes | None = None
    # Filled in by `prepare`.
    arguments: dict[str, Any] = field(default_factory=dict)
    count: int = 1
    prompt_tokens: int = 0

    @property
    def prompt(self) -> str:
        return self.request.prompt if isinstance(self.request, ImageRequest) else ""

    @property
    def output_format(self) -> str:
        return (self.request.output_format if isinstance(self.request, ImageRequest) else None) or "png"

    @property
    def transparent(self) -> bool:
        return isinstance(self.request, ImageRequest) and self.request.background == "transparent"

    @property
    def keeps_alpha(self) -> bool:
        """Whether transparency the model makes is kept: not when the request wants it opaque, nor in jpeg."""
        opaque = isinstance(self.request, ImageRequest) and self.request.background == "opaque"
        return not opaque and self.output_format != "jpeg"

    @property
    def streaming(self) -> bool:
        return isinstance(self.request, ImageRequest) and bool(self.request.stream)


def _signature(predictor: Predictor) -> ImageSignature:
    signature = predictor.spec.signature
    assert isinstance(signature, ImageSignature)
    return signature


def _serves(signature: ImageSignature, operation: Operation) -> bool:
    return {"generation": signature.generates, "edit": signature.edits, "variation": signature.varies}[operation]


async def prepare(predictor: Predictor, job: ImageJob) -> None:
    """Check the request against the model and build the call's arguments; any problem is a 400."""
    signature = _signature(predictor)
    model = predictor.name
    if not _serves(signature, job.operation):
        raise InvalidRequestError(
            f"The model `{model}` does not serve {_ENDPOINTS[job.operation]}: {_what_it_takes(signature)}.",
            param="model",
            code="model_not_supported",
        )
    job.prompt_tokens = await _prompt_tokens(predictor, job.prompt) if job.prompt else 0
    _check_prompt(predictor, job.prompt_tokens)
    job.count = _count(predictor, job.request.n)
    values = job.request.model_dump(exclude_unset=True)
    skip = _SERVER_FIELDS | {signature.prompt or "", signature.size_param or ""}
    if job.streaming:
        skip = skip - {"partial_images"}
    arguments = optional_arguments(predictor.spec, values, skip=skip)
    arguments.update(_size(signature, model, job.request.size))
    _check_background(predictor, job)
    if signature.prompt is not None:
        arguments[signature.prompt] = job.prompt
    if job.operation != "generation":
        assert signature.image is not None
        arguments.update(await _uploads(signature, job))
    job.arguments = arguments


def _what_it_takes(signature: ImageSignature) -> str:
    if signature.image is None:
        return "it takes no image"
    if signature.prompt is None:
        return "it takes an image and no prompt"
    return "it needs an image to edit"


def _check_prompt(predictor: Predictor, tokens: int) -> None:
    limit = predictor.attribute("max_prompt_tokens")
    if not isinstance(limit, int):
        return
    if tokens > limit:
        raise InvalidRequestError(
            f"The prompt is {tokens} tokens long; the model `{predictor.name}` takes at most {limit}.",
            param="prompt",
            code="prompt_too_long",
        )


async def _prompt_tokens(predictor: Predictor, prompt: str) -> int:
    # Counted once per request, for the limit and the usage.
    counter = predictor.attribute("count_prompt_tokens")
    if not callable(counter):
        return estimate_tokens(prompt)
    if inspect.iscoroutinefunction(counter):
        # An async counter, or one that runs elsewhere (a model on Ray Serve): it can only be awaited.
        return int(await predictor.call_method("count_prompt_tokens", prompt))
    return int(predictor.call_method_inline("count_prompt_tokens", prompt))


def _count(predictor: Predictor, n: int | None) -> int:
    most = predictor.attribute("max_images")
    most = most if isinstance(most, int) else MAX_IMAGES
    count = n or 1
    if count > most:
        raise InvalidRequestError(
            f"'n' is {count}; the model `{predictor.name}` makes at most {most} images per request.", param="n"
        )
    return count


def _size(signature: ImageSignature, model: str, size: str | None) -> dict[str, str]:
    if size is None or size == "auto":
        return {}
    if signature.size_param is None:
        raise InvalidRequestError(
            f"The model `{model}` makes images of its own size; leave 'size' out or send 'auto'.",
            param="size",
            code="unsupported_parameter",
        )
    if signature.sizes is not None:
        if size not in signature.sizes:
            valid = ", ".join([*signature.sizes, "auto"])
            raise InvalidRequestError(
                f"Invalid size '{size}' for the model `{model}`. Valid sizes: {valid}.", param="size"
            )
        return {signature.size_param: size}
    bounds = signature.size_range
    assert bounds is not None
    width, _, height = size.partition("x")
    sides = [int(side) for side in (width, height) if side.isdigit()]
    if len(sides) != 2 or not all(bounds.min <= s <= bounds.max and s % bounds.multiple_of == 0 for s in sides):
        raise InvalidRequestError(
            f"Invalid size '{size}' for the model `{model}`. Valid sizes: WIDTHxHEIGHT with each side from "
            f"{bounds.min} to {bounds.max} pixels and a multiple of {bounds.multiple_of}, or auto.",
            param="size",
        )
    return {signature.size_param: size}


def _check_background(predictor: Predictor, job: ImageJob) -> None:
    if not job.transparent:
        return
    if job.output_format == "jpeg":
        raise InvalidRequestError(
            "A transparent background needs output_format 'png' or 'webp'.", param="output_format"
        )
    if "background" not in predictor.spec.optional_params():
        raise InvalidRequestError(
            f"The model `{predictor.name}` does not make transparent backgrounds.",
            param="background",
            code="unsupported_parameter",
        )


async def _uploads(signature: ImageSignature, job: ImageJob) -> dict[str, Any]:
    image = signature.image
    assert image is not None
    if not job.images:
        raise InvalidRequestError(
            "Missing required parameter: 'image'.", param="image", code="missing_required_parameter"
        )
    if len(job.images) > 1 and not image.many:
        raise InvalidRequestError(
            f"The model `{job.request.model}` takes one image; {len(job.images)} were sent.", param="image"
        )
    decoded = [await anyio.to_thread.run_sync(decode_image, data, "image") for data in job.images]
    arguments: dict[str, Any] = {image.name: _as_input(image, decoded)}
    if job.mask is not None:
        if signature.mask is None:
            raise InvalidRequestError(
                f"The model `{job.request.model}` takes no mask.", param="mask", code="unsupported_parameter"
            )
        mask = await anyio.to_thread.run_sync(decode_image, job.mask, "mask")
        if mask.size != decoded[0].size:
            raise InvalidRequestError(
                f"The mask is {mask.width}x{mask.height} but the image is {decoded[0].width}x{decoded[0].height}; "
                "they must be the same size.",
                param="mask",
            )
        arguments[signature.mask.name] = as_kind(mask, signature.mask.kind)
    return arguments


def _as_input(image: ImageInput, decoded: list[Image.Image]) -> Any:
    if image.many:
        return [as_kind(item, image.kind) for item in decoded]
    return as_kind(decoded[0], image.kind)


@dataclass
class _Step:
    """Images from the model: a preview (only the first image of it is sent) or the result."""

    images: list[Image.Image]
    final: bool


async def _steps(predictor: Predictor, job: ImageJob) -> AsyncIterator[_Step]:
    """Previews as the model yields them, then exactly `job.count` result images in one last step."""
    signature = _signature(predictor)
    made: list[Image.Image] = []
    calls = 0
    while len(made) < job.count:
        arguments = dict(job.arguments)
        if signature.n_param is not None:
            arguments[signature.n_param] = job.count - len(made)
        elif calls and isinstance(arguments.get("seed"), int):
            # Called again for another image: the same seed would make the same image.
            arguments["seed"] += calls
        expected = job.count - len(made) if signature.n_param is not None else None
        calls += 1
        if not signature.streams:
            made += check_images(predictor.name, await predictor.call(**arguments), expected)
            continue
        last: Any = []
        async for value, is_last in _with_last(predictor.stream(**arguments), _marked_preview):
            if is_last:
                last = value
            else:
                yield _Step(check_images(predictor.name, value, None)[:1], final=False)
        made += check_images(predictor.name, last, expected)
    _check_sizes(predictor, job, made)
    yield _Step(made[: job.count], final=True)


def _marked_preview(value: Any) -> bool:
    """Whether the model said the item is a preview: each of its images has `info["preview"]` set."""
    images = value if isinstance(value, list) else [value]
    return bool(images) and all(isinstance(image, Image.Image) and image.info.get("preview") for image in images)


async def _with_last(
    stream: AsyncIterator[Any], is_preview: Callable[[Any], bool] = lambda _: False
) -> AsyncIterator[tuple[Any, bool]]:
    """Each item of `stream` with whether it is the last, told as soon as can be: a preview goes out while
    the model works on the next item, not when that item arrives.

    An item `is_preview` says is one goes out at once. Another is the last when the stream ends within
    `LAST_ITEM_GRACE` seconds of it (a model's generator returns straight after yielding its result); one
    that ends later sends its result as a preview too.
    """
    async with contextlib.aclosing(stream):  # type: ignore[type-var]
        upcoming = asyncio.ensure_future(anext(stream, _END))
        try:
            item = await upcoming
            while item is not _END:
                upcoming = asyncio.ensure_future(anext(stream, _END))
                if is_preview(item):
                    yield item, False
                    item = await upcoming
                    continue
                done, _ = await asyncio.wait({upcoming}, timeout=LAST_ITEM_GRACE)
                # A stream that fails next still sends this item, as the preview it was.
                if done and upcoming.exception() is None and upcoming.result() is _END:
                    yield item, True
                    return
                yield item, False
                item = await upcoming
        finally:
            if not upcoming.done():
                upcoming.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await upcoming


def _check_sizes(predictor: Predictor, job: ImageJob, images: list[Image.Image]) -> None:
    size = job.request.size
    if size is None or size == "auto":
        return
    for image in images:
        check_image_size(predictor.name, image, size)


async def _encode(job: ImageJob, image: Image.Image, *, preview: bool = False) -> bytes:
    compression = job.request.output_compression if isinstance(job.request, ImageRequest) else None
    encode = functools.partial(encode_image, fast=preview)
    return await anyio.to_thread.run_sync(encode, image, job.output_format, compression, job.keeps_alpha)


def _usage(predictor: Predictor, job: ImageJob) -> Usage:
    tokens = job.prompt_tokens
    # No image tokens here: the counts are the prompt's (the model's own tokenizer when it has one).
    return Usage(
        input_tokens=tokens,
        input_tokens_details=UsageInputTokensDetails(text_tokens=tokens, image_tokens=0),
        output_tokens=0,
        total_tokens=tokens,
    )


def _has_alpha(image: Image.Image) -> bool:
    return "A" in image.getbands()


def _quality(job: ImageJob) -> str:
    quality = job.request.quality if isinstance(job.request, ImageRequest) else None
    return quality if quality in _QUALITIES else "auto"


async def create_images(predictor: Predictor, job: ImageJob, publish: Publish) -> ImagesResponse:
    """The whole response: every image, base64 or as a URL of a file the server keeps."""
    result: list[Image.Image] = []
    async for step in _steps(predictor, job):
        if step.final:
            result = step.images
    data = []
    for image in result:
        encoded = await _encode(job, image)
        revised = image.info.get("revised_prompt")
        revised_prompt = revised if isinstance(revised, str) else None
        if job.request.response_format == "url":
            data.append(ImageData(url=publish(encoded, job.output_format), revised_prompt=revised_prompt))
        else:
            data.append(ImageData(b64_json=base64.b64encode(encoded).decode("ascii"), revised_prompt=revised_prompt))
    quality = _quality(job)
    return ImagesResponse(
        created=int(time.time()),
        data=data,
        background="transparent" if job.keeps_alpha and _has_alpha(result[0]) else "opaque",
        output_format=job.output_format,
        quality=None if quality == "auto" else quality,
        size=f"{result[0].width}x{result[0].height}",
        usage=_usage(predictor, job),
    )


async def image_events(predictor: Predictor, job: ImageJob) -> AsyncIterator[BaseModel]:
    """Up to `partial_images` partial-image events as the model yields previews, then one completed event
    per image (`image_generation.*` for generations, `image_edit.*` for edits)."""
    assert isinstance(job.request, ImageRequest)
    wanted = job.request.partial_images or 0
    prefix = "image_generation" if job.operation == "generation" else "image_edit"
    partial = ImageGenPartialImageEvent if job.operation == "generation" else ImageEditPartialImageEvent
    completed = ImageGenCompletedEvent if job.operation == "generation" else ImageEditCompletedEvent
    common = {
        "background": "transparent" if job.transparent else ("opaque" if job.request.background else "auto"),
        "output_format": job.output_format,
        "quality": _quality(job),
    }
    sent = 0
    async for step in _steps(predictor, job):
        if not step.final:
            if sent < wanted:
                preview = step.images[0]
                yield partial(
                    type=f"{prefix}.partial_image",
                    b64_json=base64.b64encode(await _encode(job, preview, preview=True)).decode("ascii"),
                    created_at=int(time.time()),
                    partial_image_index=sent,
                    size=f"{preview.width}x{preview.height}",
                    **common,
                )
                sent += 1
            continue
        for image in step.images:
            yield completed(
                type=f"{prefix}.completed",
                b64_json=base64.b64encode(await _encode(job, image)).decode("ascii"),
                created_at=int(time.time()),
                size=f"{image.width}x{image.height}",
                usage=_usage(predictor, job).model_dump(),
                **common,
            )
