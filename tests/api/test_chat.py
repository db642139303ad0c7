"""Non-streaming `POST /v1/chat/completions` through the openai client."""

from __future__ import annotations

import httpx
import pytest
from openai import AsyncOpenAI, OpenAI

from .helpers import user

TEXT = "the quick brown fox jumps"


def test_echo_completion(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="echo", messages=user(TEXT))
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "echo"
    assert isinstance(completion.created, int)
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == TEXT
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    # echo reports its own usage: one token per word.
    assert completion.usage.prompt_tokens == 5
    assert completion.usage.completion_tokens == 5
    assert completion.usage.total_tokens == 10


def test_text_model_completion(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="shout", messages=user(TEXT))
    choice = completion.choices[0]
    assert choice.message.content == TEXT.upper()
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    # shout reports nothing: the server estimates usage.
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_max_tokens_gives_length(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="echo", messages=user(TEXT), max_tokens=2)
    assert completion.choices[0].message.content == "the quick"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2


def test_max_completion_tokens_gives_length(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="echo", messages=user(TEXT), max_completion_tokens=3)
    assert completion.choices[0].message.content == "the quick brown"
    assert completion.choices[0].finish_reason == "length"


def test_limit_above_length_stops(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="echo", messages=user(TEXT), max_tokens=50)
    assert completion.choices[0].message.content == TEXT
    assert completion.choices[0].finish_reason == "stop"


def test_alias(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="echo-1", messages=user(TEXT))
    assert completion.model == "echo-1"
    assert completion.choices[0].message.content == TEXT


@pytest.mark.parametrize("model", ["echo", "shout"])
def test_n_gives_indexed_choices(client: OpenAI, model: str) -> None:
    completion = client.chat.completions.create(model=model, messages=user("hi there"), n=2)
    assert [choice.index for choice in completion.choices] == [0, 1]
    expected = "hi there" if model == "echo" else "HI THERE"
    for choice in completion.choices:
        assert choice.message.content == expected
        assert choice.message.role == "assistant"
        assert choice.finish_reason == "stop"


def test_n_usage_counts_every_choice(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="echo", messages=user("hi there"), n=2)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 2
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == 6


def test_content_as_text_parts(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="echo",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hello"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "text", "text": "world"},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "hello world"


def test_every_message_role_accepted(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="echo",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "really brief"}]},
            {"role": "user", "content": "what is the weather"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "rainy"},
            {"role": "assistant", "content": [{"type": "text", "text": "It is rainy."}]},
            {"role": "user", "content": "thanks a lot"},
        ],
    )
    assert completion.choices[0].message.content == "thanks a lot"
    assert completion.usage is not None
    # echo counts the words of the user messages only.
    assert completion.usage.prompt_tokens == 7


def test_sampling_parameters_accepted(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="echo",
        messages=user(TEXT),
        temperature=0.2,
        top_p=0.9,
        seed=7,
        stop=["\n"],
        presence_penalty=0.5,
        frequency_penalty=0.5,
        user="someone",
        extra_body={"vendor_field": {"anything": True}},
    )
    assert completion.choices[0].message.content == TEXT


def test_predictor_parameter_from_extra_body(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="shout", messages=user("a b"), extra_body={"delay": 0.01})
    assert completion.choices[0].message.content == "A B"


def test_response_json_shape(http: httpx.Client) -> None:
    body = http.post("/v1/chat/completions", json={"model": "echo", "messages": user("hi")}).json()
    assert set(body) >= {"id", "object", "created", "model", "choices", "usage"}
    assert body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "hi"
    assert choice["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


def test_empty_output(client: OpenAI) -> None:
    # No user message: shout yields nothing, and the answer is still one complete, empty choice.
    completion = client.chat.completions.create(model="shout", messages=[{"role": "system", "content": "quiet"}])
    assert completion.choices[0].message.content == ""
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    with client.chat.completions.create(
        model="shout", messages=[{"role": "system", "content": "quiet"}], stream=True
    ) as stream:
        chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.anyio
async def test_async_completion(async_client: AsyncOpenAI) -> None:
    completion = await async_client.chat.completions.create(model="shout", messages=user(TEXT))
    assert completion.choices[0].message.content == TEXT.upper()
    assert completion.choices[0].finish_reason == "stop"
