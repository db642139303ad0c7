"""Conformance of `/v1/messages` streams to Anthropic's API reference, on the wire: every event's fields and
their order, for text, tool use, the token limit and errors."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from . import faulty_models
from .helpers import anthropic_error, named_events

TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


def stream(http: httpx.Client, **body: Any) -> list[dict[str, Any]]:
    response = http.post(
        "/v1/messages", json={"stream": True, "max_tokens": 100, **body}, headers={"anthropic-version": "2023-06-01"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return named_events(response.text)


def check_start(events: list[dict[str, Any]], model: str) -> None:
    start, ping = events[0], events[1]
    assert start["type"] == "message_start"
    message = start["message"]
    assert message["id"].startswith("msg_")
    assert (message["type"], message["role"], message["model"]) == ("message", "assistant", model)
    assert message["content"] == []
    assert message["stop_reason"] is None
    assert message["stop_sequence"] is None
    assert message["usage"]["input_tokens"] > 0
    assert message["usage"]["output_tokens"] == 0
    assert ping == {"type": "ping"}


def check_end(events: list[dict[str, Any]], stop_reason: str, output_tokens: int) -> None:
    delta, stop = events[-2], events[-1]
    assert delta["type"] == "message_delta"
    assert delta["delta"] == {"stop_reason": stop_reason, "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == output_tokens
    assert delta["usage"]["input_tokens"] > 0
    assert stop == {"type": "message_stop"}


def test_text_events_in_order(http: httpx.Client) -> None:
    events = stream(http, model="echo", messages=[{"role": "user", "content": "three small words"}])
    assert [event["type"] for event in events] == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    check_start(events, "echo")
    assert events[2] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    deltas = events[3:6]
    assert all(event["index"] == 0 and event["delta"]["type"] == "text_delta" for event in deltas)
    assert "".join(event["delta"]["text"] for event in deltas) == "three small words"
    assert events[6] == {"type": "content_block_stop", "index": 0}
    check_end(events, "end_turn", 3)


def test_tool_use_events_in_order(http: httpx.Client) -> None:
    events = stream(
        http,
        model="tool-chat",
        messages=[{"role": "user", "content": "get_weather and say_hi in Bern"}],
        tools=[TOOL, {**TOOL, "name": "say_hi"}],
        tool_choice={"type": "any"},
    )
    check_start(events, "tool-chat")
    assert [event["type"] for event in events[2:-2]] == [
        *["content_block_start", "content_block_delta", "content_block_delta", "content_block_stop"] * 2
    ]
    for index, name in enumerate(("get_weather", "say_hi")):
        start, first, second, stop = events[2 + 4 * index : 6 + 4 * index]
        block = start["content_block"]
        assert start["index"] == index
        assert set(block) == {"type", "id", "name", "input"}
        assert (block["type"], block["name"], block["input"]) == ("tool_use", name, {})
        assert block["id"]
        assert {first["index"], second["index"], stop["index"]} == {index}
        assert first["delta"]["type"] == second["delta"]["type"] == "input_json_delta"
        arguments = first["delta"]["partial_json"] + second["delta"]["partial_json"]
        assert json.loads(arguments) == {"city": "Bern"}
    check_end(events, "tool_use", 4)


def test_token_limit_stop_reason(http: httpx.Client) -> None:
    events = stream(http, model="echo", max_tokens=1, messages=[{"role": "user", "content": "one two"}])
    check_end(events, "max_tokens", 1)


def test_error_mid_stream_is_an_error_event(http: httpx.Client) -> None:
    events = stream(http, model="flaky-chat", messages=[{"role": "user", "content": "go"}])
    check_start(events, "flaky-chat")
    error = events[-1]
    assert error["type"] == "error"
    assert set(error["error"]) == {"type", "message"}
    assert error["error"]["type"] == "api_error"
    assert "flaky-chat" in error["error"]["message"]
    assert "message_stop" not in [event["type"] for event in events]


def test_error_before_the_stream_is_the_request_status(http: httpx.Client) -> None:
    body = {"model": "crash-chat", "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "go"}]}
    anthropic_error(http.post("/v1/messages", json=body), 500, "api_error")


def test_disconnect_stops_the_model(http: httpx.Client) -> None:
    key = "messages disconnect"
    body = {"model": "slow-chat", "max_tokens": 1000, "stream": True, "messages": [{"role": "user", "content": key}]}
    with http.stream("POST", "/v1/messages", json=body) as response:
        lines = response.iter_lines()
        while "text_delta" not in next(lines):
            pass
    deadline = time.monotonic() + 10
    while not faulty_models.closed(key).is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert faulty_models.closed(key).is_set()
