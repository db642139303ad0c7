"""`POST /v1/embeddings` against `hash-embed` (dimensions 8..256, default 256)."""

from __future__ import annotations

import base64
import json
import math

import httpx
import numpy as np
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from .helpers import assert_error

TEXTS = ["the cat sat", "a dog ran", "the cat ran"]
# Enough distinct words that some hash into the first few coordinates, so truncated vectors are not zero.
LONG_TEXTS = [" ".join(f"{prefix}{i}" for i in range(300)) for prefix in ("w", "x")]


def _norm(vector: list[float]) -> float:
    return math.sqrt(sum(value * value for value in vector))


def test_string_input(client: OpenAI) -> None:
    response = client.embeddings.create(model="hash-embed", input="the cat sat")
    assert response.object == "list"
    assert response.model == "hash-embed"
    assert len(response.data) == 1
    item = response.data[0]
    assert item.object == "embedding"
    assert item.index == 0
    assert len(item.embedding) == 256
    assert _norm(item.embedding) == pytest.approx(1.0, abs=1e-5)
    assert response.usage.prompt_tokens > 0
    assert response.usage.total_tokens == response.usage.prompt_tokens


def test_list_input_keeps_order(client: OpenAI) -> None:
    response = client.embeddings.create(model="hash-embed", input=TEXTS)
    assert [item.index for item in response.data] == [0, 1, 2]
    singles = [client.embeddings.create(model="hash-embed", input=text).data[0].embedding for text in TEXTS]
    for item, single in zip(response.data, singles, strict=True):
        assert item.embedding == pytest.approx(single, abs=1e-6)
    # Texts sharing words are closer than texts that share none.
    cat_sat, dog_ran, cat_ran = (np.array(item.embedding) for item in response.data)
    assert float(cat_sat @ cat_ran) > float(cat_sat @ dog_ran)


def test_float_and_base64_agree(client: OpenAI) -> None:
    # The openai client asks for base64 unless told otherwise, and decodes it.
    raw = client.embeddings.with_raw_response.create(model="hash-embed", input=TEXTS)
    assert json.loads(raw.http_request.content)["encoding_format"] == "base64"
    default = raw.parse()
    floats = client.embeddings.create(model="hash-embed", input=TEXTS, encoding_format="float")
    assert [item.index for item in floats.data] == [0, 1, 2]
    for a, b in zip(default.data, floats.data, strict=True):
        assert a.embedding == pytest.approx(b.embedding, abs=1e-7)


def test_raw_base64_is_little_endian_float32(http: httpx.Client) -> None:
    floats = http.post(
        "/v1/embeddings", json={"model": "hash-embed", "input": TEXTS, "encoding_format": "float"}
    ).json()
    encoded = http.post(
        "/v1/embeddings", json={"model": "hash-embed", "input": TEXTS, "encoding_format": "base64"}
    ).json()
    assert encoded["object"] == "list"
    for as_float, as_text in zip(floats["data"], encoded["data"], strict=True):
        assert isinstance(as_float["embedding"], list)
        assert isinstance(as_text["embedding"], str)
        decoded = np.frombuffer(base64.b64decode(as_text["embedding"]), dtype="<f4")
        assert decoded.shape == (256,)
        np.testing.assert_array_equal(decoded, np.array(as_float["embedding"], dtype=np.float32))


def test_dimensions(client: OpenAI) -> None:
    response = client.embeddings.create(model="hash-embed", input=LONG_TEXTS, dimensions=16, encoding_format="float")
    assert len(response.data) == 2
    for item in response.data:
        assert len(item.embedding) == 16
        assert _norm(item.embedding) == pytest.approx(1.0, abs=1e-5)


def test_dimensions_base64(client: OpenAI) -> None:
    response = client.embeddings.create(model="hash-embed", input=LONG_TEXTS[0], dimensions=8)
    assert len(response.data[0].embedding) == 8
    assert _norm(response.data[0].embedding) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("dimensions", [7, 257, 4096])
def test_dimensions_out_of_range(client: OpenAI, dimensions: int) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="hash-embed", input="x", dimensions=dimensions)
    assert caught.value.status_code == 400
    assert caught.value.param == "dimensions"
    assert "8" in caught.value.message
    assert "256" in caught.value.message


@pytest.mark.parametrize("dimensions", [0, -1])
def test_dimensions_not_positive(http: httpx.Client, dimensions: int) -> None:
    response = http.post("/v1/embeddings", json={"model": "hash-embed", "input": "x", "dimensions": dimensions})
    assert_error(response, 400, param="dimensions")


@pytest.mark.parametrize("bad_input", ["", [], ["fine", ""]])
def test_empty_input(client: OpenAI, bad_input: str | list[str]) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="hash-embed", input=bad_input)
    assert caught.value.status_code == 400
    assert caught.value.param == "input"


@pytest.mark.parametrize("token_input", [[1, 2, 3], [[1, 2], [3]]])
def test_token_input_refused(http: httpx.Client, token_input: list[int] | list[list[int]]) -> None:
    response = http.post("/v1/embeddings", json={"model": "hash-embed", "input": token_input})
    assert_error(response, 400, param="input")


def test_encoding_format_invalid(http: httpx.Client) -> None:
    response = http.post("/v1/embeddings", json={"model": "hash-embed", "input": "x", "encoding_format": "int8"})
    assert_error(response, 400, param="encoding_format")


@pytest.mark.anyio
async def test_async_embeddings(async_client: AsyncOpenAI) -> None:
    response = await async_client.embeddings.create(model="hash-embed", input=TEXTS, dimensions=32)
    assert [len(item.embedding) for item in response.data] == [32, 32, 32]
