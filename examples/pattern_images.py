"""An image model with no weights: a pattern drawn from the prompt, procedurally, so it is fast.

    modelport serve examples/pattern_images.py

One function serves all three image endpoints: it generates from a prompt; with an `image` it edits it
(inside the transparent part of `mask`, or all over without one); with an image and an empty prompt (as
`/v1/images/variations` calls it) it varies it. It yields two coarse previews before each result, which
`stream=true` with `partial_images` sends as they come, and it can leave the background transparent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Annotated, Literal

import numpy as np
from PIL import Image

from modelport import Parameter, model

DEFAULT_SIZE = (256, 256)


def _pattern(prompt: str, seed: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB waves in two colours picked by the prompt and seed, and how far each pixel is into the second."""
    digest = hashlib.sha256(f"{seed}:{prompt}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    first, second = rng.integers(0, 256, (2, 3))
    fx, fy, fr = rng.uniform(1, 8, 3)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    radius = np.hypot(x - 0.5, y - 0.5)
    mix = (np.sin(2 * np.pi * (fx * x + fy * y)) * np.cos(2 * np.pi * fr * radius) + 1) / 2
    rgb = first * (1 - mix[..., None]) + second * mix[..., None]
    return rgb.astype(np.uint8), mix


def _coarse(image: Image.Image, factor: int) -> Image.Image:
    """A blocky preview: the image shrunk by `factor` and blown up again."""
    small = image.resize((max(1, image.width // factor), max(1, image.height // factor)), Image.Resampling.BOX)
    return small.resize(image.size, Image.Resampling.NEAREST)


@model("patterns")
def draw(
    prompt: str,
    image: Image.Image | None = None,
    mask: Image.Image | None = None,
    size: Literal["64x64", "256x256", "512x512"] | None = None,
    seed: int = 0,
    background: Literal["transparent", "opaque", "auto"] = "auto",
) -> Iterator[Annotated[Image.Image, Parameter.Image()]]:
    """Waves in two colours chosen by the prompt; previews at 1/16 and 1/4 of the resolution first."""
    if size is not None:
        width, height = (int(side) for side in size.split("x"))
    elif image is not None:
        width, height = image.size
    else:
        width, height = DEFAULT_SIZE
    revised_prompt = f"waves for: {prompt}" if prompt else None
    if image is not None and not prompt:
        # A variation: the pattern follows the image instead of a prompt.
        prompt = hashlib.sha256(image.tobytes()).hexdigest()
    rgb, mix = _pattern(prompt, seed, width, height)
    result = Image.fromarray(rgb, "RGB")
    if image is not None:
        original = image.convert("RGB").resize((width, height))
        if mask is not None:
            # OpenAI's masks: the fully transparent part is what to edit.
            edit = mask.convert("RGBA").getchannel("A").resize((width, height)).point(lambda a: 255 if a == 0 else 0)
            result = Image.composite(result, original, edit)
        else:
            result = Image.blend(original, result, 0.5)
    if background == "transparent":
        result.putalpha(Image.fromarray(np.where(mix > 0.5, 255, 0).astype(np.uint8), "L"))
    for factor in (16, 4):
        yield _coarse(result, factor)
    if revised_prompt:
        # A prompt the model rewrote goes back to the client as `revised_prompt`.
        result.info["revised_prompt"] = revised_prompt
    yield result
