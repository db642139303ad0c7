"""The image task's signature rules: prompts, images to edit, masks, sizes, n, lists and previews."""

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Literal

import numpy as np
import pytest
from PIL import Image as PILImage

from modelport import Parameter, SignatureError, Task
from modelport.predictor import ImageInput, ImageSignature, build_spec

Image = Annotated[PILImage.Image, Parameter.Image()]
Array = Annotated[np.ndarray, Parameter.Image()]
BLANK = PILImage.new("RGB", (8, 8))


def signature_of(target: Any) -> ImageSignature:
    spec = build_spec(target)
    assert spec.task is Task.IMAGE
    assert isinstance(spec.signature, ImageSignature)
    return spec.signature


def broken(target: Any, rule: str, parameter: str | None = None) -> None:
    with pytest.raises(SignatureError) as excinfo:
        build_spec(target)
    assert rule in str(excinfo.value), str(excinfo.value)
    assert excinfo.value.parameter == parameter


def test_a_generator_of_pil_images() -> None:
    def draw(prompt: str) -> Image:
        return BLANK

    signature = signature_of(draw)
    assert signature == ImageSignature(prompt="prompt")
    assert (signature.generates, signature.edits, signature.varies) == (True, False, False)


def test_an_optional_image_and_mask_serve_generations_edits_and_variations() -> None:
    def draw(
        prompt: str, image: PILImage.Image | None = None, mask: np.ndarray | None = None, n: int = 1
    ) -> list[Image]:
        return [BLANK]

    signature = signature_of(draw)
    assert signature.image == ImageInput("image", "pil", required=False)
    assert signature.mask == ImageInput("mask", "array", required=False)
    assert signature.n_param == "n"
    assert signature.returns_list
    assert (signature.generates, signature.edits, signature.varies) == (True, True, True)


def test_an_edit_function_takes_a_required_image_or_several() -> None:
    def edit(prompt: str, image: list[np.ndarray]) -> Array:
        return np.zeros((8, 8, 3), np.uint8)

    signature = signature_of(edit)
    assert signature.image == ImageInput("image", "array", many=True)
    assert (signature.generates, signature.edits, signature.varies) == (False, True, True)


def test_a_variation_function_takes_only_an_image() -> None:
    def vary(image: PILImage.Image) -> Image:
        return image

    signature = signature_of(vary)
    assert signature.prompt is None
    assert (signature.generates, signature.edits, signature.varies) == (False, False, True)


def test_previews_from_sync_and_async_generators() -> None:
    def draw(prompt: str) -> Iterator[Image]:
        yield BLANK

    async def draw_async(prompt: str) -> AsyncIterator[Annotated[list[PILImage.Image], Parameter.Image()]]:
        yield [BLANK]

    assert signature_of(draw).streams
    assert signature_of(draw_async).streams
    assert signature_of(draw_async).returns_list
    assert build_spec(draw_async).is_async


def test_sizes_from_a_literal_or_a_range() -> None:
    def listed(prompt: str, size: Literal["256x256", "512x512"] | None = None) -> Image:
        return BLANK

    def ranged(prompt: str, size: Annotated[str, Parameter.ImageSize(min=64, max=512)] = "64x64") -> Image:
        return BLANK

    assert signature_of(listed).sizes == ("256x256", "512x512")
    assert signature_of(ranged).size_range == Parameter.ImageSize(64, 512, 8)


def test_a_size_that_is_any_str_is_refused() -> None:
    def draw(prompt: str, size: str = "64x64") -> Image:
        return BLANK

    broken(draw, 'size is typed Literal["WIDTHxHEIGHT", ...]', "size")


def test_a_size_literal_of_other_words_is_refused() -> None:
    def draw(prompt: str, size: Literal["small", "large"] = "small") -> Image:
        return BLANK

    broken(draw, 'size is typed Literal["WIDTHxHEIGHT", ...]', "size")


def test_neither_prompt_nor_image() -> None:
    def draw(seed: int = 0) -> Image:
        return BLANK

    broken(draw, "takes a `prompt: str`, an `image` to edit or vary, or both")


def test_an_image_of_the_wrong_type() -> None:
    def edit(prompt: str, image: bytes) -> Image:
        return BLANK

    broken(edit, "an image parameter is typed PIL.Image.Image or np.ndarray", "image")


def test_a_required_mask_is_refused() -> None:
    def edit(prompt: str, image: PILImage.Image, mask: PILImage.Image) -> Image:
        return BLANK

    broken(edit, "the mask is one optional image", "mask")


def test_a_mask_without_an_image() -> None:
    def edit(prompt: str, mask: PILImage.Image | None = None) -> Image:
        return BLANK

    broken(edit, "a mask needs an `image` parameter", "mask")


def test_an_optional_image_defaults_to_none() -> None:
    def edit(prompt: str, image: PILImage.Image = BLANK) -> Image:
        return BLANK

    broken(edit, "an optional image parameter's default is None", "image")


def test_n_is_an_int() -> None:
    def draw(prompt: str, n: float = 1.0) -> Image:
        return BLANK

    broken(draw, "`n` must be typed int", "n")


def test_a_result_that_is_not_an_image() -> None:
    def draw(prompt: str) -> Annotated[bytes, Parameter.Image()]:
        return b""

    broken(draw, "an image function returns Annotated[PIL.Image.Image or np.ndarray, Parameter.Image()]")


def test_image_size_bounds() -> None:
    with pytest.raises(ValueError, match="ImageSize needs 1 <= min <= max"):
        Parameter.ImageSize(512, 64)
