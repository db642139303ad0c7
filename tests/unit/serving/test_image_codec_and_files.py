"""Image uploads decoded, results encoded and checked, and the files behind `url` responses expiring."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelport.errors import InvalidRequestError, NotFoundError, PredictorError
from modelport.serving.checks import check_image, check_images
from modelport.serving.image_codec import MAX_UPLOAD_PIXELS, as_kind, decode_image, encode_image
from modelport.serving.image_files import ImageFiles


def encoded(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_uploads_in_each_format_decode(image_format: str) -> None:
    image = decode_image(encoded(Image.new("RGB", (12, 8), (200, 10, 10)), image_format), "image")
    assert (image.size, image.mode) == ((12, 8), "RGB")
    assert np.asarray(image)[4, 6, 0] > 150


def test_transparency_is_kept_and_palettes_become_rgb() -> None:
    assert decode_image(encoded(Image.new("RGBA", (4, 4)), "PNG"), "mask").mode == "RGBA"
    assert decode_image(encoded(Image.new("P", (4, 4)), "PNG"), "image").mode == "RGB"


@pytest.mark.parametrize("data", [b"", b"not an image", encoded(Image.new("RGB", (4, 4)), "GIF")])
def test_what_cannot_be_decoded_is_a_400(data: bytes) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        decode_image(data, "image")
    assert (excinfo.value.param, excinfo.value.code) == ("image", "invalid_image")


def test_an_image_of_too_many_pixels_is_a_400() -> None:
    side = int(MAX_UPLOAD_PIXELS**0.5) + 1
    # A PNG of one colour compresses to a few kilobytes however many pixels it has.
    with pytest.raises(InvalidRequestError) as excinfo:
        decode_image(encoded(Image.new("L", (side, side)), "PNG"), "image")
    assert excinfo.value.code == "image_too_large"


def test_arrays_for_functions_typed_ndarray() -> None:
    array = as_kind(Image.new("RGBA", (3, 2)), "array")
    assert isinstance(array, np.ndarray)
    assert (array.dtype, array.shape) == (np.uint8, (2, 3, 4))


@pytest.mark.parametrize("output_format", ["png", "jpeg", "webp"])
def test_results_encode_to_each_format(output_format: str) -> None:
    data = encode_image(Image.new("RGBA", (8, 8), (0, 0, 255, 0)), output_format, 50, keep_alpha=True)
    decoded = Image.open(io.BytesIO(data))
    assert decoded.format == output_format.upper()
    # jpeg cannot be transparent: the transparent pixels are laid on white.
    expected_mode = "RGB" if output_format == "jpeg" else "RGBA"
    assert decoded.mode == expected_mode


def test_an_opaque_result_is_flattened_onto_white() -> None:
    data = encode_image(Image.new("RGBA", (2, 2), (0, 0, 0, 0)), "png", None, keep_alpha=False)
    assert Image.open(io.BytesIO(data)).convert("RGB").getpixel((0, 0)) == (255, 255, 255)


def test_compression_shrinks_jpeg() -> None:
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert len(encode_image(noise, "jpeg", 10, False)) < len(encode_image(noise, "jpeg", None, False))


def test_checks_accept_pil_images_and_uint8_arrays() -> None:
    assert check_image("m", np.zeros((4, 5, 3), np.uint8)).size == (5, 4)
    assert check_image("m", Image.new("L", (2, 2))).size == (2, 2)
    assert len(check_images("m", [Image.new("RGB", (2, 2))] * 2, 2)) == 2


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (np.zeros((4, 4, 3), np.float32), "uint8 arrays of shape (H, W, 3) or (H, W, 4)"),
        (np.zeros((4, 4), np.uint8), "uint8 arrays of shape (H, W, 3) or (H, W, 4)"),
        ("an image", "PIL images or uint8 arrays, not a str"),
        (np.zeros((0, 4, 3), np.uint8), "an empty image"),
    ],
)
def test_checks_refuse_what_is_not_an_image(value: object, problem: str) -> None:
    with pytest.raises(PredictorError, match="The model `m` broke its contract") as excinfo:
        check_image("m", value)
    assert problem in excinfo.value.message


def test_checks_count_the_images() -> None:
    with pytest.raises(PredictorError, match="it returned 1 images when 2 were asked for"):
        check_images("m", Image.new("RGB", (2, 2)), 2)


def test_files_are_served_until_they_expire(tmp_path: Path) -> None:
    files = ImageFiles(ttl=0.2, folder=tmp_path)
    name = files.save(b"png bytes", "png")
    assert name.endswith(".png")
    assert files.path(name).read_bytes() == b"png bytes"
    time.sleep(0.25)
    with pytest.raises(NotFoundError):
        files.path(name)
    assert list(tmp_path.iterdir()) == []


def test_names_are_not_guessable_and_closing_deletes_everything() -> None:
    files = ImageFiles(ttl=60)
    names = {files.save(b"x", "webp") for _ in range(3)}
    assert len(names) == 3
    assert all(len(name) >= 32 for name in names)
    with pytest.raises(NotFoundError):
        files.path("../etc/passwd")
    files.close()
    assert not files.folder.exists()


def test_a_fast_png_is_the_same_picture() -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "RGB").resize((128, 128))
    fast = encode_image(image, "png", None, keep_alpha=False, fast=True)
    with Image.open(io.BytesIO(fast)) as decoded:
        assert decoded.format == "PNG"
        assert np.array_equal(np.asarray(decoded), np.asarray(image))
