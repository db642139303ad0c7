"""`GET /v1/models` and `GET /v1/models/{id}` through the openai client."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types import Model

from .helpers import assert_error

EXAMPLE_MODELS = {"echo", "echo-1", "shout", "hash-embed", "tones", "audio-length"}


def test_list_has_openai_shape(client: OpenAI, http: httpx.Client) -> None:
    body = http.get("/v1/models").json()
    assert body["object"] == "list"
    for entry in body["data"]:
        # OpenAI's fields (optional ones the openai package knows, e.g. shutdown_date, may appear) and `task`.
        assert {"id", "object", "created", "owned_by"} <= set(entry) <= {*Model.model_fields, "task"}
        assert entry["object"] == "model"
        assert isinstance(entry["created"], int)
        assert 0 < entry["created"] <= time.time()
        assert isinstance(entry["owned_by"], str)
        assert entry["owned_by"]

    ids = [m.id for m in client.models.list()]
    assert set(ids) >= EXAMPLE_MODELS
    assert len(ids) == len(set(ids))


def test_aliases_are_listed_and_retrievable(client: OpenAI) -> None:
    assert "echo-1" in {m.id for m in client.models.list()}
    alias = client.models.retrieve("echo-1")
    assert alias.id == "echo-1"
    assert alias.object == "model"
    assert alias.owned_by == client.models.retrieve("echo").owned_by


@pytest.mark.parametrize("name", sorted(EXAMPLE_MODELS))
def test_retrieve(client: OpenAI, name: str) -> None:
    found = client.models.retrieve(name)
    assert found.id == name
    assert found.object == "model"
    assert isinstance(found.created, int)


def test_retrieve_unknown_lists_served_models(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-nothing")
    assert caught.value.status_code == 404
    message = caught.value.message
    assert "gpt-nothing" in message
    for name in EXAMPLE_MODELS:
        assert name in message


def test_retrieve_unknown_body(http: httpx.Client) -> None:
    error = assert_error(http.get("/v1/models/gpt-nothing"), 404, code="model_not_found", param="model")
    assert "echo" in error["message"]


@pytest.mark.anyio
async def test_list_async(async_client: AsyncOpenAI) -> None:
    ids = [m.id async for m in async_client.models.list()]
    assert set(ids) >= EXAMPLE_MODELS
    assert (await async_client.models.retrieve("shout")).id == "shout"
