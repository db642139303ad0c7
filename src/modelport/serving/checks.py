"""Checks on what a predictor returns: a broken contract is a 500 naming the model, never a crash."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image as PILImage

from modelport.errors import PredictorError
from modelport.transcript import Transcript

MAX_AUDIO_CHANNELS = 8


def _broken(model: str, problem: str) -> PredictorError:
    return PredictorError(f"The model `{model}` broke its contract: {problem}.", code="invalid_predictor_output")


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    return f"a {type(value).__name__}"


def check_embeddings(model: str, value: Any, count: int, dimensions: int | None) -> np.ndarray:
    """A float32 (count, D) array with finite values; D equals `dimensions` when one was asked for."""
    if not isinstance(value, np.ndarray) or value.dtype != np.float32 or value.ndim != 2:
        raise _broken(model, f"an embedding function returns a float32 array of shape (N, D), not {_describe(value)}")
    if value.shape[0] != count:
        raise _broken(model, f"it returned {value.shape[0]} vectors for {count} inputs")
    if value.shape[1] == 0:
        raise _broken(model, "it returned vectors of length 0")
    if dimensions is not None and value.shape[1] != dimensions:
        raise _broken(model, f"it returned vectors of length {value.shape[1]} when {dimensions} were asked for")
    if not np.isfinite(value).all():
        raise _broken(model, "it returned NaN or infinite values")
    return value


def check_audio(model: str, value: Any) -> np.ndarray:
    """Float32 samples, (F,) or (F, C), not empty, finite."""
    if not isinstance(value, np.ndarray) or value.dtype != np.float32 or value.ndim not in (1, 2):
        raise _broken(
            model,
            f"a speech function returns float32 samples of shape (F,) or (F, C), not {_describe(value)}",
        )
    if value.shape[0] == 0:
        raise _broken(model, "it returned no samples")
    if value.ndim == 2 and not 1 <= value.shape[1] <= MAX_AUDIO_CHANNELS:
        raise _broken(model, f"it returned {value.shape[1]} channels; at most {MAX_AUDIO_CHANNELS} are supported")
    if not np.isfinite(value).all():
        raise _broken(model, "it returned NaN or infinite samples")
    return value


def check_audio_piece(model: str, value: Any) -> np.ndarray:
    """One piece from a streaming speech function: like `check_audio`, but it may be empty."""
    if isinstance(value, np.ndarray) and value.dtype == np.float32 and value.ndim in (1, 2) and value.shape[0] == 0:
        return value
    return check_audio(model, value)


def check_text(model: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _broken(model, f"a transcription function returns str or a Transcript, not {_describe(value)}")
    return value


def check_transcript(model: str, value: Any) -> Transcript:
    """A `Transcript`, made from the text when the function returned `str`."""
    if isinstance(value, Transcript):
        if not isinstance(value.text, str):
            raise _broken(model, f"a Transcript's text is a str, not {_describe(value.text)}")
        return value
    return Transcript(text=check_text(model, value))


def check_transcript_update(model: str, value: Any) -> Transcript:
    """One yield of a streaming transcription function: the transcript so far."""
    if not isinstance(value, Transcript):
        raise _broken(model, f"a streaming transcription function yields Transcripts, not {_describe(value)}")
    return check_transcript(model, value)


def no_transcript(model: str) -> PredictorError:
    return _broken(model, "a streaming transcription function yielded no transcript")


def check_image(model: str, value: Any) -> PILImage.Image:
    """A PIL image, or a uint8 array (H, W, 3) or (H, W, 4) made into one; not empty."""
    if isinstance(value, np.ndarray):
        if value.dtype != np.uint8 or value.ndim != 3 or value.shape[2] not in (3, 4):
            raise _broken(
                model, f"an image function returns uint8 arrays of shape (H, W, 3) or (H, W, 4), not {_describe(value)}"
            )
        value = PILImage.fromarray(np.ascontiguousarray(value), "RGB" if value.shape[2] == 3 else "RGBA")
    elif not isinstance(value, PILImage.Image):
        raise _broken(model, f"an image function returns PIL images or uint8 arrays, not {_describe(value)}")
    image: PILImage.Image = value
    if image.width == 0 or image.height == 0:
        raise _broken(model, "it returned an empty image")
    return image


def check_images(model: str, value: Any, count: int | None) -> list[PILImage.Image]:
    """A list of images (one image counts as a list of one), `count` of them when a count is expected."""
    items = list(value) if isinstance(value, list | tuple) else [value]
    if count is not None and len(items) != count:
        raise _broken(model, f"it returned {len(items)} images when {count} were asked for")
    if not items:
        raise _broken(model, "it returned no image")
    return [check_image(model, item) for item in items]


def check_image_size(model: str, image: PILImage.Image, size: str) -> None:
    """The image is `size` ("WIDTHxHEIGHT"), as the request asked."""
    if f"{image.width}x{image.height}" != size:
        raise _broken(model, f"it returned a {image.width}x{image.height} image when {size} was asked for")
