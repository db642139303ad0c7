"""A diffusers pipeline from a folder, for real: the tiny random-weight Stable Diffusion of tiny_pipeline.py,
loaded by the same code as `--image-model` and driven through the openai client."""

from __future__ import annotations

import base64
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from PIL import Image

import live_server
from modelport import cli
from modelport.builtin.diffusion import DiffusersImages, models
from modelport.config import Settings
from modelport.runtime import Registry

from .tiny_pipeline import PROMPT_LIMIT, build_tiny_pipeline

FAST = {"steps": 2}


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("pipelines") / "tiny-sd")


@pytest.fixture(scope="module")
def client(tiny_folder: Path) -> Iterator[OpenAI]:
    settings = Settings(image_models=[f"tiny={tiny_folder}"], image_threads=1)
    with (
        live_server.serve(Registry(models(settings)), settings) as live,
        OpenAI(base_url=live.v1, api_key="unused", max_retries=0, timeout=120) as openai_client,
    ):
        yield openai_client


def decoded(b64: str | None) -> Image.Image:
    assert b64 is not None
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def png(size: tuple[int, int], fill: tuple[int, ...], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, fill).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_generation_at_the_pipelines_own_size(client: OpenAI) -> None:
    response = client.images.generate(model="tiny", prompt="a red fox", extra_body={"steps": 1})
    assert response.data is not None
    image = decoded(response.data[0].b64_json)
    # The UNet's sample size (32 latents) times the VAE's scale (8).
    assert (image.format, image.size, response.size) == ("PNG", (256, 256), "256x256")
    assert response.usage is not None
    # The pipeline's own tokenizer counts: one token per character here, plus start and end.
    assert response.usage.input_tokens == len("a red fox") - 2 + 2
    # Loading kept huggingface_hub off the network.
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_n_images_in_every_format_and_as_urls(client: OpenAI) -> None:
    for output_format in ("png", "jpeg", "webp"):
        response = client.images.generate(
            model="tiny",
            prompt="a fox",
            size="64x64",
            n=2,
            output_format=output_format,  # type: ignore[arg-type]
            response_format="url" if output_format == "webp" else "b64_json",
            extra_body={**FAST, "seed": 1},
        )
        assert response.data is not None
        assert len(response.data) == 2
        if output_format == "webp":
            images = [Image.open(io.BytesIO(httpx.get(str(item.url)).content)) for item in response.data]
        else:
            images = [decoded(item.b64_json) for item in response.data]
        assert {(image.format, image.size) for image in images} == {(output_format.upper(), (64, 64))}
        assert images[0].tobytes() != images[1].tobytes()


def test_the_same_seed_gives_the_same_bytes(client: OpenAI) -> None:
    def draw(seed: int) -> str | None:
        response = client.images.generate(model="tiny", prompt="a fox", size="64x64", extra_body={**FAST, "seed": seed})
        assert response.data is not None
        return response.data[0].b64_json

    assert draw(5) == draw(5)
    assert draw(5) != draw(6)


def test_an_edit_with_a_mask_inpaints(client: OpenAI) -> None:
    mask = Image.new("RGBA", (64, 48), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (16, 16, 48, 32))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")

    def edit() -> Image.Image:
        response = client.images.edit(
            model="tiny",
            prompt="a blue square",
            image=("in.png", png((64, 48), (200, 30, 30))),
            mask=("mask.png", buffer.getvalue()),
            extra_body={**FAST, "seed": 3},
        )
        assert response.data is not None
        return decoded(response.data[0].b64_json)

    first = edit()
    assert first.size == (64, 48)
    assert first.tobytes() == edit().tobytes()


def test_an_edit_without_a_mask_and_a_variation(client: OpenAI) -> None:
    edited = client.images.edit(
        model="tiny", prompt="blue", image=("in.png", png((40, 40), (0, 90, 0))), size="64x64", extra_body=FAST
    )
    assert edited.size == "64x64"
    with pytest.warns(DeprecationWarning, match="deprecated"):
        varied = client.images.create_variation(
            model="tiny", image=("in.png", png((48, 32), (0, 0, 90))), extra_body=FAST
        )
    assert varied.size == "48x32"


def test_streamed_previews_from_the_step_callback(client: OpenAI) -> None:
    events = list(
        client.images.generate(
            model="tiny", prompt="a fox", size="64x64", stream=True, partial_images=2, extra_body={"steps": 4}
        )
    )
    assert [event.type for event in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert {decoded(event.b64_json).size for event in events} == {(64, 64)}


def test_a_streamed_edit(client: OpenAI) -> None:
    events = list(
        client.images.edit(
            model="tiny",
            prompt="a fox",
            image=("in.png", png((64, 64), (9, 9, 9))),
            stream=True,
            partial_images=1,
            extra_body={"steps": 4},
        )
    )
    assert [event.type for event in events] == ["image_edit.partial_image", "image_edit.completed"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": "a" * PROMPT_LIMIT}, "prompt"),
        ({"n": 5}, "n"),
        ({"size": "100x100"}, "size"),
        ({"size": "4096x4096"}, "size"),
        ({"steps": 0}, "steps"),
    ],
)
def test_bad_requests(client: OpenAI, fields: dict[str, object], param: str) -> None:
    body = {"model": "tiny", "prompt": "a fox", **fields}
    response = httpx.post(f"{client.base_url}images/generations", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_a_mask_of_another_size(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="they must be the same size"):
        client.images.edit(
            model="tiny",
            prompt="x",
            image=("in.png", png((64, 64), (1, 1, 1))),
            mask=("m.png", png((32, 32), (0, 0, 0, 0), "RGBA")),
        )


def test_the_cli_lists_a_pipeline_folder_and_refuses_other_folders(
    tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["models", "--image-model", f"sketch={tiny_folder}", "--image-model", str(tiny_folder)]) == 0
    out = capsys.readouterr().out
    assert "sketch\timage\tDiffusersImages serves=generations,edits,variations" in out
    assert "tiny-sd\timage" in out
    assert cli.main(["models", "--image-model", str(tmp_path)]) == 2
    assert "is not a diffusers pipeline folder" in capsys.readouterr().err


def test_torch_runs_on_the_threads_it_is_given(tiny_folder: Path) -> None:
    import torch

    model = DiffusersImages(tiny_folder, threads=1)
    model.load()
    seen: list[int] = []

    def run() -> None:
        # A fresh thread starts with torch's default count; the run sets the one it was given.
        next(model("a fox", size="64x64", steps=1))
        seen.append(torch.get_num_threads())

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert seen == [1]
