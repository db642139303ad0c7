"""`POST /v1/embeddings` with token-id input, length limits, truncation, input types and tokenizer usage.

`tokens-embed` (tests/api/embedding_models.py) declares every optional hook; `hash-embed` declares none.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from .embedding_models import MAX_TOKENS, VOCAB, tokenize
from .helpers import assert_error

MODEL = "tokens-embed"


def embed(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post("/v1/embeddings", json={"model": MODEL, "encoding_format": "float", **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_usage_is_counted_by_the_model_tokenizer(client: OpenAI) -> None:
    # Three words are three tokens here; the characters-per-token estimate would say 2.
    response = client.embeddings.create(model=MODEL, input=["a b c", "dd ee"], encoding_format="float")
    assert response.usage.prompt_tokens == 5
    assert response.usage.total_tokens == 5
    assert [item.embedding[0] for item in response.data] == [3.0, 2.0]


def test_usage_falls_back_to_the_estimate(client: OpenAI) -> None:
    response = client.embeddings.create(model="hash-embed", input="a b c")
    assert response.usage.prompt_tokens == 2


@pytest.mark.parametrize("token_input", [[5, 6, 7], [[5, 6, 7]]])
def test_token_ids(http: httpx.Client, token_input: list[int] | list[list[int]]) -> None:
    body = embed(http, input=token_input)
    assert [item["embedding"] for item in body["data"]] == [[3.0, 5.0, 7.0, 0.0]]
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_token_ids_through_the_openai_client(client: OpenAI) -> None:
    text_vector = client.embeddings.create(model=MODEL, input="hello big world").data[0].embedding
    token_vector = client.embeddings.create(model=MODEL, input=[tokenize("hello big world")]).data[0].embedding
    assert token_vector == text_vector


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 0, 1], [2, 1, 0]])
def test_inputs_of_different_lengths_keep_their_order(http: httpx.Client, order: list[int]) -> None:
    # The server sorts inputs by length into batches; the answer must come back in the request's order.
    lists = [[[1], [2, 3], [4, 5, 6]][i] for i in order]
    body = embed(http, input=lists)
    assert [item["index"] for item in body["data"]] == [0, 1, 2]
    assert [item["embedding"][:3] for item in body["data"]] == [[len(ids), ids[0], ids[-1]] for ids in lists]


@pytest.mark.parametrize("bad_input", [[[]], [[1], []]])
def test_empty_token_list(http: httpx.Client, bad_input: list[list[int]]) -> None:
    response = http.post("/v1/embeddings", json={"model": MODEL, "input": bad_input})
    assert_error(response, 400, param="input")


@pytest.mark.parametrize("token", [VOCAB, -1])
def test_token_outside_the_vocabulary(http: httpx.Client, token: int) -> None:
    response = http.post("/v1/embeddings", json={"model": MODEL, "input": [1, token]})
    error = assert_error(response, 400, param="input")
    assert str(token) in error["message"]
    assert str(VOCAB - 1) in error["message"]


def test_text_over_the_limit_names_it(client: OpenAI) -> None:
    long_text = " ".join(["word"] * (MAX_TOKENS + 1))
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=MODEL, input=["short", long_text])
    assert caught.value.param == "input"
    assert caught.value.code == "context_length_exceeded"
    assert f"at most {MAX_TOKENS} tokens" in caught.value.message
    assert "Input 1 has 9 tokens" in caught.value.message


def test_tokens_over_the_limit(http: httpx.Client) -> None:
    response = http.post("/v1/embeddings", json={"model": MODEL, "input": list(range(1, MAX_TOKENS + 2))})
    error = assert_error(response, 400, param="input", code="context_length_exceeded")
    assert str(MAX_TOKENS) in error["message"]


def test_truncate_cuts_text_at_the_limit(client: OpenAI) -> None:
    long_text = " ".join(["word"] * (MAX_TOKENS + 4))
    response = client.embeddings.create(
        model=MODEL, input=long_text, encoding_format="float", extra_body={"truncate": True}
    )
    assert response.data[0].embedding[0] == MAX_TOKENS
    assert response.usage.prompt_tokens == MAX_TOKENS


def test_truncate_cuts_token_ids_at_the_limit(http: httpx.Client) -> None:
    body = embed(http, input=list(range(1, MAX_TOKENS + 5)), truncate=True)
    assert body["data"][0]["embedding"][:3] == [MAX_TOKENS, 1.0, MAX_TOKENS]
    assert body["usage"]["prompt_tokens"] == MAX_TOKENS


def test_truncate_must_be_a_boolean(http: httpx.Client) -> None:
    response = http.post("/v1/embeddings", json={"model": MODEL, "input": "x", "truncate": "sometimes"})
    assert_error(response, 400, param="truncate")


def test_input_type_applies_the_prefix(client: OpenAI) -> None:
    plain = client.embeddings.create(model=MODEL, input="a b", encoding_format="float")
    query = client.embeddings.create(
        model=MODEL, input="a b", encoding_format="float", extra_body={"input_type": "query"}
    )
    document = client.embeddings.create(
        model=MODEL, input="a b", encoding_format="float", extra_body={"input_type": "document"}
    )
    assert plain.data[0].embedding[3] == 0.0
    assert query.data[0].embedding[3] == 1.0
    assert document.data[0].embedding[3] == 0.0
    # The prefix is part of what the model sees, so it is counted.
    assert query.usage.prompt_tokens == plain.usage.prompt_tokens + 1


def test_unknown_input_type(http: httpx.Client) -> None:
    response = http.post("/v1/embeddings", json={"model": MODEL, "input": "x", "input_type": "poem"})
    error = assert_error(response, 400, param="input_type")
    assert "document, query" in error["message"]


def test_input_type_on_a_model_without_types(http: httpx.Client) -> None:
    response = http.post("/v1/embeddings", json={"model": "hash-embed", "input": "x", "input_type": "query"})
    assert_error(response, 400, param="input_type", code="unsupported_parameter")


def test_input_type_with_token_ids(http: httpx.Client) -> None:
    response = http.post("/v1/embeddings", json={"model": MODEL, "input": [1, 2], "input_type": "query"})
    assert_error(response, 400, param="input_type")


def test_dimensions_on_a_model_without_matryoshka(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=MODEL, input="x", dimensions=2)
    assert caught.value.param == "dimensions"
    assert caught.value.code == "unsupported_parameter"


@pytest.mark.anyio
async def test_concurrent_requests_each_get_their_own_vectors(async_client: AsyncOpenAI) -> None:
    texts = [" ".join(chr(ord("a") + i) * (j + 1) for j in range(i % 5 + 1)) for i in range(16)]
    responses = await asyncio.gather(
        *(async_client.embeddings.create(model=MODEL, input=text, encoding_format="float") for text in texts)
    )
    for text, response in zip(texts, responses, strict=True):
        ids = tokenize(text)
        assert response.data[0].embedding == [len(ids), ids[0], ids[-1], 0.0]


def test_a_model_that_tokenizes_embeds_text_as_its_ids(http: httpx.Client) -> None:
    response = http.post(
        "/v1/embeddings", json={"model": "ids-embed", "input": ["a b c", "dd ee"], "encoding_format": "float"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    # Through embed_tokens (last column 0), on the ids tokenize gave; usage counts the same ids.
    assert [item["embedding"] for item in body["data"]] == [[3.0, 97.0, 99.0, 0.0], [2.0, 0.0, 1.0, 0.0]]
    assert body["usage"] == {"prompt_tokens": 5, "total_tokens": 5}


def test_a_model_that_tokenizes_keeps_the_limit_and_truncation(http: httpx.Client) -> None:
    text = " ".join(["word"] * (MAX_TOKENS + 3))
    refused = http.post("/v1/embeddings", json={"model": "ids-embed", "input": text})
    assert_error(refused, 400, param="input", code="context_length_exceeded")
    assert f"at most {MAX_TOKENS}" in refused.json()["error"]["message"]
    body = http.post(
        "/v1/embeddings", json={"model": "ids-embed", "input": text, "truncate": True, "encoding_format": "float"}
    ).json()
    assert body["data"][0]["embedding"][0] == MAX_TOKENS
    assert body["usage"]["prompt_tokens"] == MAX_TOKENS
