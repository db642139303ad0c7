"""Language models against a live modelport: sync and async, streaming and not, structured output, tools."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelport.client import AIFactory, ConfigurationError, LanguageModel
from modelport.client.language import response_format

from .conftest import LiveServer

BARE_SCHEMA = {"type": "object", "properties": {}}
HELLO = [{"role": "user", "content": "hello there friend"}]


def make(server: LiveServer, model: str = "echo", **config: Any) -> LanguageModel:
    return AIFactory.create_language("modelport", model, {"base_url": server.v1, "max_retries": 0, **config})


def inspect(model: LanguageModel, **params: Any) -> dict[str, Any]:
    completion = model.chat_complete(HELLO, stream=False, **params)
    content = completion.choices[0].message.content
    assert content is not None
    result: dict[str, Any] = json.loads(content)
    return result


def test_chat_complete(server: LiveServer) -> None:
    with make(server) as chat:
        completion = chat.chat_complete(HELLO)
    assert completion.object == "chat.completion"
    assert completion.model == "echo"
    assert completion.choices[0].message.content == "hello there friend"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3


def test_a_string_is_one_user_message(server: LiveServer) -> None:
    with make(server, "shout") as chat:
        assert chat.chat_complete("hi you").choices[0].message.content == "HI YOU"


def test_chat_complete_streams_chunks(server: LiveServer) -> None:
    with make(server) as chat:
        chunks = list(chat.chat_complete(HELLO, stream=True))
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "hello there friend"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]


def test_config_streaming_is_the_default_of_stream(server: LiveServer) -> None:
    with make(server, "shout", streaming=True) as chat:
        chunks = list(chat.chat_complete(HELLO))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "HELLO THERE FRIEND"
        # An explicit stream=False wins over the config.
        assert chat.chat_complete(HELLO, stream=False).choices[0].message.content == "HELLO THERE FRIEND"


def test_stopping_a_stream_early_closes_it(server: LiveServer) -> None:
    with make(server) as chat:
        stream = chat.chat_complete(HELLO, stream=True)
        first = next(iter(stream))
        assert first.choices[0].delta.content == "hello"
        stream.close()  # type: ignore[attr-defined]
        # The connection went back to the pool closed or reusable: the next call works.
        assert chat.chat_complete(HELLO).choices[0].message.content == "hello there friend"


@pytest.mark.anyio
async def test_achat_complete(server: LiveServer) -> None:
    async with make(server) as chat:
        completion = await chat.achat_complete(HELLO)
    assert completion.choices[0].message.content == "hello there friend"


@pytest.mark.anyio
async def test_achat_complete_streams_chunks(server: LiveServer) -> None:
    async with make(server, "shout") as chat:
        stream = await chat.achat_complete(HELLO, stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    assert text == "HELLO THERE FRIEND"


def test_config_parameters_reach_the_model(server: LiveServer) -> None:
    with make(server, "echo", max_tokens=2) as chat:
        completion = chat.chat_complete(HELLO)
        assert completion.choices[0].message.content == "hello there"
        assert completion.choices[0].finish_reason == "length"
        # A call's parameters win over the config.
        assert chat.chat_complete(HELLO, max_tokens=1).choices[0].message.content == "hello"


def test_sampling_parameters_are_sent(server: LiveServer) -> None:
    with make(server, "inspect", temperature=0.3) as chat:
        assert inspect(chat)["temperature"] == 0.3
        assert inspect(chat, temperature=1.5)["temperature"] == 1.5


def test_structured_json(server: LiveServer) -> None:
    with make(server, "inspect", structured={"type": "json"}) as chat:
        assert inspect(chat)["response_format"] == {"type": "json_object"}


def test_structured_json_schema(server: LiveServer) -> None:
    schema = {"title": "Person", "type": "object", "properties": {"name": {"type": "string"}}}
    with make(server, "inspect", structured=schema) as chat:
        assert inspect(chat)["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "Person", "schema": schema},
        }


def test_tools_are_passed_through(server: LiveServer) -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
        }
    ]
    with make(server, "inspect") as chat:
        sent = inspect(chat, tools=tools, tool_choice="auto")
    assert sent["tools"] == tools
    assert sent["tool_choice"] == "auto"
    with make(server, "inspect", tools=tools) as chat:
        assert inspect(chat)["tools"] == tools


@pytest.mark.parametrize(
    ("structured", "expected"),
    [
        ("json", {"type": "json_object"}),
        ({"type": "json_object"}, {"type": "json_object"}),
        (
            {"type": "json_schema", "schema": {"type": "object"}, "name": "x", "strict": True},
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": True}},
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "y", "schema": {}}},
            {"type": "json_schema", "json_schema": {"name": "y", "schema": {}}},
        ),
        (
            BARE_SCHEMA,
            {"type": "json_schema", "json_schema": {"name": "response", "schema": BARE_SCHEMA}},
        ),
    ],
)
def test_response_format(structured: Any, expected: dict[str, Any]) -> None:
    assert response_format(structured) == expected


def test_unknown_structured_output_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="Unknown structured output"):
        response_format({"type": "xml"})


def test_unknown_config_keys_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"Unknown config keys \['temprature'\]"):
        LanguageModel("echo", config={"temprature": 0.5})
