"""Streaming `POST /v1/chat/completions`: the openai client's streams, its helper, and the raw SSE wire."""

from __future__ import annotations

import httpx
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletionChunk

from .helpers import sse_json, sse_payloads, user

TEXT = "streams arrive one word at a time"


def _content(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices)


def _assert_well_formed(chunks: list[ChatCompletionChunk], model: str) -> None:
    assert chunks
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].id.startswith("chatcmpl-")
    assert len({chunk.created for chunk in chunks}) == 1
    for chunk in chunks:
        assert chunk.object == "chat.completion.chunk"
        assert chunk.model == model
    assert chunks[0].choices[0].delta.role == "assistant"
    with_choices = [chunk for chunk in chunks if chunk.choices]
    assert with_choices[-1].choices[0].finish_reason is not None
    reasons = [choice.finish_reason for chunk in with_choices for choice in chunk.choices]
    assert sum(reason is not None for reason in reasons) == 1


@pytest.mark.parametrize("model", ["echo", "shout"])
def test_sync_stream_matches_completion(client: OpenAI, model: str) -> None:
    complete = client.chat.completions.create(model=model, messages=user(TEXT))
    with client.chat.completions.create(model=model, messages=user(TEXT), stream=True) as stream:
        chunks = list(stream)
    _assert_well_formed(chunks, model)
    assert _content(chunks) == complete.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(chunk.usage is None for chunk in chunks)


@pytest.mark.anyio
@pytest.mark.parametrize("model", ["echo", "shout"])
async def test_async_stream_matches_completion(async_client: AsyncOpenAI, model: str) -> None:
    complete = await async_client.chat.completions.create(model=model, messages=user(TEXT))
    stream = await async_client.chat.completions.create(model=model, messages=user(TEXT), stream=True)
    async with stream:
        chunks = [chunk async for chunk in stream]
    _assert_well_formed(chunks, model)
    assert _content(chunks) == complete.choices[0].message.content
    assert all(chunk.usage is None for chunk in chunks)


def test_stream_finish_reason_length(client: OpenAI) -> None:
    with client.chat.completions.create(model="echo", messages=user(TEXT), max_tokens=2, stream=True) as stream:
        chunks = list(stream)
    _assert_well_formed(chunks, "echo")
    assert _content(chunks) == "streams arrive"
    assert chunks[-1].choices[0].finish_reason == "length"


@pytest.mark.parametrize("model", ["echo", "shout"])
def test_stream_include_usage(client: OpenAI, model: str) -> None:
    with client.chat.completions.create(
        model=model, messages=user(TEXT), stream=True, stream_options={"include_usage": True}
    ) as stream:
        chunks = list(stream)
    _assert_well_formed(chunks, model)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.completion_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert _content(chunks) == (TEXT if model == "echo" else TEXT.upper())


@pytest.mark.anyio
async def test_async_stream_include_usage(async_client: AsyncOpenAI) -> None:
    stream = await async_client.chat.completions.create(
        model="echo", messages=user(TEXT), stream=True, stream_options={"include_usage": True}
    )
    async with stream:
        chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(TEXT.split())


def test_stream_include_usage_false(client: OpenAI) -> None:
    with client.chat.completions.create(
        model="echo", messages=user(TEXT), stream=True, stream_options={"include_usage": False}
    ) as stream:
        chunks = list(stream)
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices


def test_stream_n_two(client: OpenAI) -> None:
    with client.chat.completions.create(model="shout", messages=user("a b"), n=2, stream=True) as stream:
        chunks = list(stream)
    by_index: dict[int, str] = {}
    finished: dict[int, str | None] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            by_index[choice.index] = by_index.get(choice.index, "") + (choice.delta.content or "")
            if choice.finish_reason is not None:
                finished[choice.index] = choice.finish_reason
    assert by_index == {0: "A B", 1: "A B"}
    assert finished == {0: "stop", 1: "stop"}
    assert len({chunk.id for chunk in chunks}) == 1


def test_raw_sse_wire(http: httpx.Client) -> None:
    body = {"model": "echo", "messages": user(TEXT), "stream": True}
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    assert raw.startswith("data: {")
    assert raw.endswith("data: [DONE]\n\n")
    # Every event is exactly `data: <json>\n\n`: no comments, no event names, no multi-line data.
    payloads = sse_payloads(raw)
    assert payloads[-1] == "[DONE]"
    events = sse_json(raw)
    for event in events:
        assert event["object"] == "chat.completion.chunk"
    assert "".join(event["choices"][0]["delta"].get("content") or "" for event in events) == TEXT
    assert all("usage" not in event or event["usage"] is None for event in events)


def test_raw_sse_usage_chunk(http: httpx.Client) -> None:
    body = {"model": "shout", "messages": user(TEXT), "stream": True, "stream_options": {"include_usage": True}}
    response = http.post("/v1/chat/completions", json=body)
    events = sse_json(response.text)
    assert events[-1]["choices"] == []
    assert set(events[-1]["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(event["usage"] is None for event in events[:-1] if "usage" in event)


def test_stream_helper(client: OpenAI) -> None:
    with client.chat.completions.stream(model="shout", messages=user(TEXT)) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == TEXT.upper()
    assert final.choices[0].message.content == TEXT.upper()
    assert final.choices[0].finish_reason == "stop"


@pytest.mark.anyio
async def test_async_stream_helper(async_client: AsyncOpenAI) -> None:
    async with async_client.chat.completions.stream(model="shout", messages=user(TEXT)) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == TEXT.upper()


def test_parse_helper(client: OpenAI) -> None:
    completion = client.chat.completions.parse(model="shout", messages=user(TEXT))
    assert completion.choices[0].message.content == TEXT.upper()
    assert completion.choices[0].message.parsed is None
