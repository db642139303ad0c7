"""Small deterministic image models for the API tests: each shows one part of the image contract."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Literal

import numpy as np
from PIL import Image

from modelport import Parameter, model

Array = Annotated[np.ndarray, Parameter.Image()]


def colour(text: str) -> tuple[int, int, int]:
    """A colour that depends on `text`, the same every time."""
    value = sum((i + 1) * ord(c) for i, c in enumerate(text))
    return value % 251, value * 7 % 253, value * 13 % 255


@model("solid")
def solid(
    prompt: str,
    size: Annotated[str, Parameter.ImageSize(min=16, max=128, multiple_of=16)] = "32x32",
    n: int = 1,
    seed: int | None = None,
    quality: str = "auto",
    style: str = "natural",
    negative_prompt: str | None = None,
    steps: int = 1,
    guidance_scale: float = 1.0,
    flavour: Annotated[str, Parameter.Generic(description="any field the request sends")] = "plain",
) -> list[Annotated[Image.Image, Parameter.Image()]]:
    """n images of one colour picked by the prompt and seed; the arguments it got come back as revised_prompt."""
    received = {
        "prompt": prompt,
        "size": size,
        "n": n,
        "seed": seed,
        "quality": quality,
        "style": style,
        "negative_prompt": negative_prompt,
        "steps": steps,
        "guidance_scale": guidance_scale,
        "flavour": flavour,
    }
    width, height = (int(side) for side in size.split("x"))
    images = []
    for index in range(n):
        image = Image.new("RGB", (width, height), colour(f"{prompt}/{seed}/{index}"))
        image.info["revised_prompt"] = json.dumps(received)
        images.append(image)
    return images


@model("async-one")
async def one_at_a_time(prompt: str, seed: int = 0) -> Array:
    """One RGBA image per call (so n images take n calls), coloured by the prompt and seed."""
    return np.full((8, 8, 4), (*colour(f"{prompt}/{seed}"), 255), dtype=np.uint8)


@model("async-previews")
async def previews(prompt: str, partial_images: int = 0) -> AsyncIterator[Array]:
    """Three grey previews (darkest first), then a white image; `partial_images` is what the request asked."""
    for level in (0, 60, 120):
        yield np.full((8, 8, 3), level, dtype=np.uint8)
    yield np.full((8, 8, 3), 255 - partial_images, dtype=np.uint8)


@model("edit-only")
def invert(prompt: str, image: list[np.ndarray], mask: np.ndarray | None = None) -> Array:
    """The first image inverted; where `mask` is opaque it keeps the original. The image count goes in red."""
    first = image[0][..., :3]
    result = 255 - first
    if mask is not None:
        keep = mask[..., 3] > 0 if mask.shape[2] == 4 else np.zeros(first.shape[:2], bool)
        result[keep] = first[keep]
    result[0, 0] = (len(image), 0, 0)
    return result.astype(np.uint8)


@model("vary-only")
def mirror(image: Image.Image) -> Annotated[Image.Image, Parameter.Image()]:
    """The image mirrored left to right."""
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


@model("picky")
def picky(prompt: str, n: int = 1) -> list[Array]:
    """Takes prompts of at most five tokens and makes at most two images."""
    return [np.zeros((8, 8, 3), np.uint8) for _ in range(n)]


picky.max_prompt_tokens = 5  # type: ignore[attr-defined]
picky.max_images = 2  # type: ignore[attr-defined]
picky.count_prompt_tokens = lambda prompt: len(prompt.split())  # type: ignore[attr-defined]


@model("broken-image")
def broken(prompt: str, size: Literal["8x8", "16x16"] | None = None) -> Array:
    """Breaks the contract: float pixels for 'float', otherwise an 8x8 image whatever size was asked."""
    if prompt == "float":
        return np.zeros((8, 8, 3), np.float32)
    return np.zeros((8, 8, 3), np.uint8)


@model("failing-image")
def failing(prompt: str) -> Array:
    """Raises for every prompt but 'ok'."""
    if prompt != "ok":
        raise RuntimeError("no pictures today")
    return np.zeros((8, 8, 3), np.uint8)


# Set by a test once it has received the preview: the model finishes only then.
PREVIEW_SEEN = threading.Event()


@model("gated")
def gated(prompt: str) -> Iterator[Array]:
    """A preview, then the image only after PREVIEW_SEEN is set (a server that held previews back would hang)."""
    yield np.zeros((8, 8, 3), np.uint8)
    if not PREVIEW_SEEN.wait(timeout=10):
        raise TimeoutError("the preview never reached the client")
    PREVIEW_SEEN.clear()
    yield np.full((8, 8, 3), 255, np.uint8)


@model("fails-later")
async def fails_later(prompt: str) -> AsyncIterator[Array]:
    """A preview, then an error instead of the image."""
    yield np.zeros((8, 8, 3), np.uint8)
    raise RuntimeError("ran out of paint")
