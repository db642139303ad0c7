"""Anthropic's Messages API (`/v1/messages`) through the official `anthropic` SDK, over example chat models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic import Anthropic

from live_server import LiveServer

from .conftest import API_KEY, SMALL_BODY_LIMIT
from .helpers import anthropic_error, assert_error

WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME: dict[str, Any] = {**WEATHER, "name": "get_time", "description": "The time in a city"}


@pytest.fixture(scope="module")
def claude(server: LiveServer) -> Iterator[Anthropic]:
    with Anthropic(base_url=server.url, api_key="unused", max_retries=0, timeout=30) as client:
        yield client


def test_create_answers_in_anthropics_shape(claude: Anthropic) -> None:
    message = claude.messages.create(
        model="echo",
        max_tokens=100,
        system="Repeat the user.",
        messages=[{"role": "user", "content": "hello from claude"}],
        metadata={"user_id": "u-1"},
    )
    assert message.id.startswith("msg_")
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == "echo"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "hello from claude"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.output_tokens == 3
    assert message.usage.input_tokens >= 3


def test_max_tokens_stop_reason(claude: Anthropic) -> None:
    message = claude.messages.create(
        model="echo", max_tokens=2, messages=[{"role": "user", "content": [{"type": "text", "text": "a b c d"}]}]
    )
    assert message.stop_reason == "max_tokens"
    assert message.content[0].text == "a b"  # type: ignore[union-attr]


def test_stream_helper(claude: Anthropic) -> None:
    with claude.messages.stream(
        model="shout", max_tokens=50, messages=[{"role": "user", "content": "quiet words here"}]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == ["QUIET", " WORDS", " HERE"]
    assert final.content[0].text == "QUIET WORDS HERE"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"


def test_tool_choice_any_then_a_tool_result(claude: Anthropic) -> None:
    first = claude.messages.create(
        model="tool-chat",
        max_tokens=100,
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Weather in Madrid"}],
    )
    assert first.stop_reason == "tool_use"
    [call] = first.content
    assert call.type == "tool_use"
    assert call.name == "get_weather"
    assert call.input == {"city": "Madrid"}
    assert call.id
    second = claude.messages.create(
        model="tool-chat",
        max_tokens=100,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "Weather in Madrid"},
            {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "30 degrees"}]},
        ],
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "The tools said: 30 degrees"  # type: ignore[union-attr]


def test_tool_choice_names_a_tool(claude: Anthropic) -> None:
    message = claude.messages.create(
        model="tool-chat",
        max_tokens=100,
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "get_time"},
        messages=[{"role": "user", "content": "What now in Lima"}],
    )
    assert [(block.type, block.name) for block in message.content] == [("tool_use", "get_time")]  # type: ignore[union-attr]


def test_stream_helper_with_a_tool(claude: Anthropic) -> None:
    with claude.messages.stream(
        model="tool-chat",
        max_tokens=100,
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Weather in Quito"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].input == {"city": "Quito"}  # type: ignore[union-attr]


def test_count_tokens(claude: Anthropic) -> None:
    count = claude.messages.count_tokens(
        model="echo", system="short", messages=[{"role": "user", "content": "count these words please"}]
    )
    assert count.input_tokens > 0


def test_bad_request(claude: Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        claude.messages.create(model="echo", max_tokens=0, messages=[{"role": "user", "content": "hi"}])
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": raised.value.body["error"]["message"]},
    }  # type: ignore[index]
    assert "max_tokens" in raised.value.message
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.messages.create(model="nope", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert "nope" in missing.value.message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
        ({"model": "echo", "max_tokens": 5, "messages": []}, "messages"),
        ({"model": "echo", "max_tokens": 5, "messages": [{"role": "robot", "content": "hi"}]}, "role"),
        (
            {
                "model": "echo",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            },
            "web_search",
        ),
        (
            {
                "model": "echo",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
                "tool_choice": {"type": "tool"},
            },
            "name",
        ),
    ],
)
def test_bad_requests_are_anthropic_400s(http: httpx.Client, body: dict[str, Any], needle: str) -> None:
    headers = {"anthropic-version": "2023-06-01"}
    message = anthropic_error(http.post("/v1/messages", json=body, headers=headers), 400, "invalid_request_error")
    assert needle in message


def test_errors_keep_openais_shape_elsewhere(http: httpx.Client) -> None:
    anthropic_error(http.post("/v1/messages", content=b"{"), 400, "invalid_request_error")
    anthropic_error(
        http.post("/v1/messages/count_tokens", json={"model": "nope", "messages": []}), 400, "invalid_request_error"
    )
    assert_error(http.post("/v1/chat/completions", content=b"{"), 400)
    assert_error(http.post("/v1/responses", json={"model": "nope", "input": "x"}), 404)


def test_the_predictor_failing_is_an_anthropic_500(http: httpx.Client) -> None:
    body = {"model": "crash-chat", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    message = anthropic_error(http.post("/v1/messages", json=body), 500, "api_error")
    assert "crash-chat" in message


def test_keys_as_x_api_key_or_bearer(locked_server: LiveServer, locked_http: httpx.Client) -> None:
    request: dict[str, Any] = {
        "model": "echo",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "let me in"}],
    }
    with Anthropic(base_url=locked_server.url, api_key=API_KEY, max_retries=0) as keyed:
        assert keyed.messages.create(**request).content[0].text == "let me in"  # type: ignore[union-attr]
    with Anthropic(base_url=locked_server.url, auth_token=API_KEY, max_retries=0) as bearer:
        assert bearer.messages.create(**request).content[0].text == "let me in"  # type: ignore[union-attr]
    with (
        Anthropic(base_url=locked_server.url, api_key="wrong", max_retries=0) as wrong,
        pytest.raises(anthropic.AuthenticationError) as refused,
    ):
        wrong.messages.create(**request)
    assert refused.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    anthropic_error(locked_http.post("/v1/messages", json=request), 401, "authentication_error")
    chat = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    assert locked_http.post("/v1/chat/completions", json=chat, headers={"x-api-key": API_KEY}).status_code == 200
    big = {**request, "messages": [{"role": "user", "content": "x" * (SMALL_BODY_LIMIT + 1)}]}
    anthropic_error(
        locked_http.post("/v1/messages", json=big, headers={"x-api-key": API_KEY}), 413, "request_too_large"
    )
