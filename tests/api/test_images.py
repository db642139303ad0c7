"""`/v1/images/generations`, `/edits` and `/variations` through the openai client, against small models."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai import OpenAI
from PIL import Image

from . import image_models
from .conftest import LiveServer
from .helpers import assert_error, sse_payloads


def decoded(b64: str | None) -> Image.Image:
    assert b64 is not None
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def png(size: tuple[int, int], fill: tuple[int, ...] = (10, 20, 30), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, fill).save(buffer, "PNG")
    return buffer.getvalue()


def received(result: Any) -> dict[str, Any]:
    """What `solid` was called with, which it returns as the revised prompt."""
    arguments: dict[str, Any] = json.loads(result.revised_prompt)
    return arguments


# Generations


def test_a_generation_in_openai_shape(client: OpenAI) -> None:
    response = client.images.generate(model="solid", prompt="a red square")
    assert response.created > 0
    assert response.data is not None
    assert len(response.data) == 1
    image = decoded(response.data[0].b64_json)
    assert (image.format, image.size) == ("PNG", (32, 32))
    assert image.getpixel((0, 0)) == image_models.colour("a red square/None/0")
    assert (response.size, response.output_format, response.background) == ("32x32", "png", "opaque")
    assert response.usage is not None
    assert response.usage.input_tokens == response.usage.input_tokens_details.text_tokens > 0


def test_request_fields_reach_the_parameters_of_the_same_name(client: OpenAI) -> None:
    response = client.images.generate(
        model="solid",
        prompt="a cat",
        size="64x48",
        n=2,
        quality="high",
        style="vivid",
        extra_body={"seed": 7, "negative_prompt": "dogs", "steps": 3, "guidance_scale": 2.5, "flavour": "mint"},
    )
    assert response.data is not None
    assert len(response.data) == 2
    assert received(response.data[0]) == {
        "prompt": "a cat",
        "size": "64x48",
        "n": 2,
        "seed": 7,
        "quality": "high",
        "style": "vivid",
        "negative_prompt": "dogs",
        "steps": 3,
        "guidance_scale": 2.5,
        "flavour": "mint",
    }
    assert decoded(response.data[1].b64_json).getpixel((0, 0)) == image_models.colour("a cat/7/1")
    assert (response.size, response.quality) == ("64x48", "high")


def test_a_function_without_n_is_called_once_per_image_with_its_seed_moved_on(client: OpenAI) -> None:
    response = client.images.generate(model="async-one", prompt="p", n=3, extra_body={"seed": 10})
    assert response.data is not None
    colours = [decoded(item.b64_json).getpixel((0, 0)) for item in response.data]
    assert colours == [(*image_models.colour(f"p/{seed}"), 255) for seed in (10, 11, 12)]


def test_the_same_seed_gives_the_same_bytes(client: OpenAI) -> None:
    first, second = (client.images.generate(model="patterns", prompt="waves", extra_body={"seed": 3}) for _ in range(2))
    assert first.data is not None
    assert second.data is not None
    assert first.data[0].b64_json == second.data[0].b64_json
    other = client.images.generate(model="patterns", prompt="waves", extra_body={"seed": 4})
    assert other.data is not None
    assert other.data[0].b64_json != first.data[0].b64_json


@pytest.mark.parametrize("output_format", ["png", "jpeg", "webp"])
def test_every_output_format(client: OpenAI, output_format: str) -> None:
    response = client.images.generate(
        model="patterns",
        prompt="waves",
        size="64x64",
        output_format=output_format,  # type: ignore[arg-type]
        output_compression=80,
    )
    assert response.data is not None
    assert decoded(response.data[0].b64_json).format == output_format.upper()
    assert response.output_format == output_format


def test_a_transparent_background(client: OpenAI) -> None:
    response = client.images.generate(model="patterns", prompt="waves", size="64x64", background="transparent")
    assert response.data is not None
    image = decoded(response.data[0].b64_json)
    assert image.mode == "RGBA"
    alpha = np.asarray(image)[..., 3]
    assert 0 < (alpha == 0).sum() < alpha.size
    assert response.background == "transparent"


def test_url_responses_are_files_the_server_keeps(server: LiveServer) -> None:
    # The URL names the host the client called: here `localhost` rather than 127.0.0.1.
    base = server.v1.replace("127.0.0.1", "localhost")
    with OpenAI(base_url=base, api_key="unused", max_retries=0) as local:
        response = local.images.generate(model="patterns", prompt="waves", response_format="url", output_format="webp")
    assert response.data is not None
    url = response.data[0].url
    assert url is not None
    assert response.data[0].b64_json is None
    assert url.startswith(server.url.replace("127.0.0.1", "localhost") + "/v1/images/files/")
    fetched = httpx.get(url)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(fetched.content)).size == (256, 256)


def test_an_unknown_image_file_is_a_404(http: httpx.Client) -> None:
    assert_error(http.get("/v1/images/files/nothing-here.png"), 404, code="image_not_found")


def test_url_files_need_no_key_on_a_locked_server(locked_server: LiveServer) -> None:
    from .conftest import API_KEY

    with OpenAI(base_url=locked_server.v1, api_key=API_KEY, max_retries=0) as locked:
        response = locked.images.generate(model="async-one", prompt="p", response_format="url")
    assert response.data is not None
    assert response.data[0].url is not None
    assert httpx.get(response.data[0].url).status_code == 200
    assert (
        httpx.post(f"{locked_server.v1}/images/generations", json={"model": "solid", "prompt": "p"}).status_code == 401
    )


# Sizes


def test_a_size_outside_the_literal_names_the_valid_ones(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.images.generate(model="patterns", prompt="waves", size="1024x1024")
    assert excinfo.value.param == "size"
    assert "Valid sizes: 64x64, 256x256, 512x512, auto" in excinfo.value.message


@pytest.mark.parametrize("size", ["8x8", "20x32", "256x16", "big", "32x"])
def test_a_size_outside_the_range_is_a_400(client: OpenAI, size: str) -> None:
    with pytest.raises(openai.BadRequestError, match="each side from 16 to 128 pixels and a multiple of 16") as excinfo:
        client.images.generate(model="solid", prompt="p", size=size)
    assert excinfo.value.param == "size"


def test_a_model_that_picks_its_own_size(client: OpenAI) -> None:
    response = client.images.generate(model="async-one", prompt="p", size="auto")
    assert response.size == "8x8"
    with pytest.raises(openai.BadRequestError, match="makes images of its own size") as excinfo:
        client.images.generate(model="async-one", prompt="p", size="256x256")
    assert excinfo.value.code == "unsupported_parameter"


# Errors


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "solid", "prompt": ""}, "prompt"),
        ({"model": "solid", "prompt": "x" * 32_001}, "prompt"),
        ({"model": "solid"}, "prompt"),
        ({"model": "solid", "prompt": "p", "n": 11}, "n"),
        ({"model": "solid", "prompt": "p", "n": 0}, "n"),
        ({"model": "solid", "prompt": "p", "output_format": "gif"}, "output_format"),
        ({"model": "solid", "prompt": "p", "response_format": "file"}, "response_format"),
        ({"model": "solid", "prompt": "p", "steps": "many"}, "steps"),
        ({"model": "patterns", "prompt": "p", "background": "transparent", "output_format": "jpeg"}, "output_format"),
        ({"model": "solid", "prompt": "p", "background": "transparent"}, "background"),
        ({"model": "picky", "prompt": "one two three four five six"}, "prompt"),
        ({"model": "picky", "prompt": "p", "n": 3}, "n"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(http: httpx.Client, body: dict[str, Any], param: str) -> None:
    assert_error(http.post("/v1/images/generations", json=body), 400, param=param)


def test_a_prompt_within_the_models_limit(client: OpenAI) -> None:
    response = client.images.generate(model="picky", prompt="one two three four five", n=2)
    assert response.data is not None
    assert len(response.data) == 2
    assert response.usage is not None
    assert response.usage.input_tokens == 5


def test_a_model_of_another_task_and_an_unknown_model(http: httpx.Client) -> None:
    error = assert_error(http.post("/v1/images/generations", json={"model": "tones", "prompt": "p"}), 400)
    assert "served at /v1/audio/speech" in error["message"]
    assert_error(http.post("/v1/images/generations", json={"model": "nope", "prompt": "p"}), 404, param="model")


def test_a_failing_function_is_a_500_naming_the_model_and_the_server_goes_on(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError, match="The model `failing-image` failed: RuntimeError"):
        client.images.generate(model="failing-image", prompt="draw")
    assert client.images.generate(model="failing-image", prompt="ok").data


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"prompt": "float"}, "uint8 arrays of shape (H, W, 3) or (H, W, 4)"),
        ({"prompt": "p", "size": "16x16"}, "it returned a 8x8 image when 16x16 was asked for"),
    ],
)
def test_a_broken_contract_is_a_500(http: httpx.Client, body: dict[str, Any], problem: str) -> None:
    error = assert_error(
        http.post("/v1/images/generations", json={"model": "broken-image", **body}),
        500,
        code="invalid_predictor_output",
    )
    assert "`broken-image`" in error["message"]
    assert problem in error["message"]


# Edits and variations


def test_an_edit_with_several_images_and_a_mask(client: OpenAI) -> None:
    mask = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    mask.paste((0, 0, 0, 255), (0, 0, 4, 2))  # the top half stays as it was
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    response = client.images.edit(
        model="edit-only",
        prompt="invert",
        image=[("a.png", png((4, 4), (10, 20, 30))), ("b.jpg", png((2, 2)))],
        mask=("mask.png", buffer.getvalue()),
    )
    assert response.data is not None
    pixels = np.asarray(decoded(response.data[0].b64_json))
    assert tuple(pixels[0, 0]) == (2, 0, 0)  # two images arrived
    assert tuple(pixels[1, 1]) == (10, 20, 30)
    assert tuple(pixels[3, 3]) == (245, 235, 225)


def test_edit_uploads_in_jpeg_and_webp(client: OpenAI) -> None:
    for image_format in ("JPEG", "WEBP"):
        buffer = io.BytesIO()
        Image.new("RGB", (6, 6), (0, 0, 0)).save(buffer, image_format)
        response = client.images.edit(model="edit-only", prompt="invert", image=("in", buffer.getvalue()))
        assert response.data is not None
        assert np.asarray(decoded(response.data[0].b64_json))[3, 3].min() > 240


@pytest.mark.parametrize(
    ("files", "fields", "param"),
    [
        ({"image": ("a.png", b"not a picture")}, {}, "image"),
        ({"image": ("a.png", png((4, 4))), "mask": ("m.png", png((5, 4), mode="RGBA"))}, {}, "mask"),
        ({"mask": ("m.png", png((4, 4), mode="RGBA"))}, {}, "image"),
        ({"image": ("a.png", png((4, 4)))}, {"prompt": ""}, "prompt"),
        ({"image": ("a.png", png((4, 4)))}, {"n": "eleven"}, "n"),
    ],
)
def test_bad_edits_are_400s(http: httpx.Client, files: dict[str, Any], fields: dict[str, str], param: str) -> None:
    data = {"model": "edit-only", "prompt": "p", **fields}
    assert_error(http.post("/v1/images/edits", data=data, files=files), 400, param=param)


def test_endpoints_a_model_does_not_serve(http: httpx.Client) -> None:
    image = {"image": ("a.png", png((4, 4)))}
    cases = [
        ("/v1/images/edits", "solid", "it takes no image"),
        ("/v1/images/generations", "edit-only", "it needs an image to edit"),
        ("/v1/images/edits", "vary-only", "it takes an image and no prompt"),
        ("/v1/images/variations", "solid", "it takes no image"),
    ]
    for path, name, reason in cases:
        if path.endswith("generations"):
            response = http.post(path, json={"model": name, "prompt": "p"})
        else:
            response = http.post(path, data={"model": name, "prompt": "p"}, files=image)
        error = assert_error(response, 400, param="model", code="model_not_supported")
        assert reason in error["message"]


def test_one_image_for_a_model_that_takes_one(http: httpx.Client) -> None:
    files = [("image[]", ("a.png", png((4, 4)))), ("image[]", ("b.png", png((4, 4))))]
    error = assert_error(http.post("/v1/images/edits", data={"model": "patterns", "prompt": "p"}, files=files), 400)
    assert "takes one image; 2 were sent" in error["message"]


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the client marks variations deprecated
def test_variations(client: OpenAI) -> None:
    source = Image.new("RGB", (6, 4), (0, 0, 0))
    source.putpixel((0, 0), (255, 0, 0))
    buffer = io.BytesIO()
    source.save(buffer, "PNG")
    response = client.images.create_variation(model="vary-only", image=("in.png", buffer.getvalue()))
    assert response.data is not None
    assert decoded(response.data[0].b64_json).getpixel((5, 0)) == (255, 0, 0)
    pattern = client.images.create_variation(model="patterns", image=("in.png", buffer.getvalue()), n=2)
    assert pattern.data is not None
    assert len(pattern.data) == 2
    assert pattern.size == "6x4"


# Streaming


def test_streamed_previews_then_the_image(client: OpenAI) -> None:
    events = list(client.images.generate(model="patterns", prompt="waves", stream=True, partial_images=2, size="64x64"))
    assert [event.type for event in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [getattr(event, "partial_image_index", None) for event in events] == [0, 1, None]
    final = client.images.generate(model="patterns", prompt="waves", size="64x64")
    assert final.data is not None
    assert events[-1].b64_json == final.data[0].b64_json
    assert events[-1].size == "64x64"
    assert events[-1].output_format == "png"


@pytest.mark.anyio
@pytest.mark.parametrize(("partial_images", "previews"), [(0, 0), (1, 1), (3, 3)])
async def test_partial_images_caps_the_previews_sent(
    async_client: openai.AsyncOpenAI, partial_images: int, previews: int
) -> None:
    stream = await async_client.images.generate(
        model="async-previews", prompt="p", stream=True, partial_images=partial_images
    )
    events = [event async for event in stream]
    assert [event.type for event in events].count("image_generation.partial_image") == previews
    assert events[-1].type == "image_generation.completed"
    # The model got the request's `partial_images`.
    assert decoded(events[-1].b64_json).getpixel((0, 0)) == (255 - partial_images,) * 3


def test_the_stream_ends_with_the_completed_event_and_no_done(http: httpx.Client) -> None:
    body = {"model": "solid", "prompt": "p", "stream": True, "partial_images": 2, "n": 2}
    payloads = sse_payloads(http.post("/v1/images/generations", json=body).text)
    assert "[DONE]" not in payloads
    events = [json.loads(payload) for payload in payloads]
    # A model without previews sends its images only; one completed event per image.
    assert [event["type"] for event in events] == ["image_generation.completed"] * 2
    assert events[0]["usage"]["input_tokens"] == 1


def test_a_streamed_edit(client: OpenAI) -> None:
    events = list(
        client.images.edit(
            model="patterns", prompt="waves", image=("a.png", png((16, 16))), stream=True, partial_images=1
        )
    )
    assert [event.type for event in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert decoded(events[-1].b64_json).size == (16, 16)


def test_a_stream_that_fails_sends_an_error_event(http: httpx.Client) -> None:
    body = {"model": "failing-image", "prompt": "p", "stream": True}
    assert_error(http.post("/v1/images/generations", json=body), 500)


def test_a_preview_is_sent_while_the_model_still_works(client: OpenAI) -> None:
    types = []
    for event in client.images.generate(model="gated", prompt="p", stream=True, partial_images=1):
        types.append(event.type)
        if event.type == "image_generation.partial_image":
            image_models.PREVIEW_SEEN.set()
    assert types == ["image_generation.partial_image", "image_generation.completed"]


def test_a_failure_after_a_preview_ends_the_stream_with_an_error_event(http: httpx.Client) -> None:
    body = {"model": "fails-later", "prompt": "p", "stream": True, "partial_images": 1}
    response = http.post("/v1/images/generations", json=body)
    assert response.status_code == 200
    events = [json.loads(payload) for payload in sse_payloads(response.text)]
    assert events[0]["type"] == "image_generation.partial_image"
    assert events[1]["error"]["message"] == "The model `fails-later` failed: RuntimeError: ran out of paint"
    assert len(events) == 2
