"""Conformance of `/v1/responses` streams to the Responses API reference, on the wire: every event's fields,
their order and numbering, for text, function calls, the output limit and errors."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from . import faulty_models
from .helpers import assert_error, named_events

TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {}}}}


def stream(http: httpx.Client, **body: Any) -> list[dict[str, Any]]:
    response = http.post("/v1/responses", json={"stream": True, **body})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = named_events(response.text)
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    return events


def check_lifecycle(events: list[dict[str, Any]], last: str) -> dict[str, Any]:
    """The first two and the last event; returns the last event's response."""
    created, in_progress, final = events[0], events[1], events[-1]
    assert created["type"] == "response.created"
    assert in_progress["type"] == "response.in_progress"
    assert final["type"] == last
    ids = {event["response"]["id"] for event in (created, in_progress, final)}
    assert len(ids) == 1
    for event in (created, in_progress):
        response = event["response"]
        assert response["object"] == "response"
        assert response["status"] == "in_progress"
        assert response["output"] == []
        assert response["usage"] is None
    assert [event["type"] for event in events].count(last) == 1
    response: dict[str, Any] = final["response"]
    return response


def test_text_events_in_order(http: httpx.Client) -> None:
    events = stream(http, model="echo", input="three small words")
    response = check_lifecycle(events, "response.completed")
    kinds = [event["type"] for event in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    added = events[2]
    assert added["output_index"] == 0
    item = added["item"]
    assert item["type"] == "message"
    assert item["role"] == "assistant"
    assert item["status"] == "in_progress"
    assert item["content"] == []
    item_id = item["id"]
    part_added = events[3]
    assert part_added["item_id"] == item_id
    assert (part_added["output_index"], part_added["content_index"]) == (0, 0)
    assert part_added["part"] == {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    deltas = events[4:7]
    for delta in deltas:
        assert delta["item_id"] == item_id
        assert (delta["output_index"], delta["content_index"]) == (0, 0)
        assert delta["logprobs"] == []
    text = "".join(delta["delta"] for delta in deltas)
    assert text == "three small words"
    done, part_done, item_done = events[7], events[8], events[9]
    assert done["text"] == text
    assert (done["item_id"], done["output_index"], done["content_index"]) == (item_id, 0, 0)
    assert part_done["part"]["text"] == text
    assert item_done["item"]["status"] == "completed"
    assert item_done["item"]["content"][0]["text"] == text
    assert response["status"] == "completed"
    assert response["output"] == [item_done["item"]]
    assert response["usage"]["output_tokens"] == 3
    assert response["completed_at"] >= response["created_at"]


def test_function_call_events_in_order(http: httpx.Client) -> None:
    events = stream(http, model="tool-chat", input="Weather in Rome", tools=[TOOL])
    response = check_lifecycle(events, "response.completed")
    kinds = [event["type"] for event in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * 2,
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    item = events[2]["item"]
    assert item["type"] == "function_call"
    assert item["status"] == "in_progress"
    assert item["name"] == "get_weather"
    assert item["arguments"] == ""
    assert item["call_id"]
    for delta in events[3:5]:
        assert (delta["item_id"], delta["output_index"]) == (item["id"], 0)
    arguments = "".join(delta["delta"] for delta in events[3:5])
    assert json.loads(arguments) == {"city": "Rome"}
    assert events[5]["arguments"] == arguments
    done = events[6]["item"]
    assert done == {**item, "arguments": arguments, "status": "completed"}
    assert response["output"] == [done]


def test_two_calls_are_two_items(http: httpx.Client) -> None:
    tools = [TOOL, {**TOOL, "name": "get_time"}]
    events = stream(http, model="tool-chat", input="get_weather and get_time", tools=tools)
    response = check_lifecycle(events, "response.completed")
    added = [event for event in events if event["type"] == "response.output_item.added"]
    done = [event for event in events if event["type"] == "response.output_item.done"]
    assert [event["output_index"] for event in added] == [0, 1]
    assert [event["item"]["name"] for event in done] == ["get_weather", "get_time"]
    # The first item is done before the second is added.
    assert events.index(done[0]) < events.index(added[1])
    assert [item["name"] for item in response["output"]] == ["get_weather", "get_time"]


def test_output_limit_ends_with_response_incomplete(http: httpx.Client) -> None:
    events = stream(http, model="echo", input="one two three", max_output_tokens=1)
    response = check_lifecycle(events, "response.incomplete")
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["output"][0]["status"] == "incomplete"
    assert response["output"][0]["content"][0]["text"] == "one"


def test_error_mid_stream_ends_with_response_failed(http: httpx.Client) -> None:
    events = stream(http, model="flaky-chat", input="go")
    response = check_lifecycle(events, "response.failed")
    assert response["status"] == "failed"
    assert response["error"]["code"] == "server_error"
    assert "flaky-chat" in response["error"]["message"]
    deltas = [event["delta"] for event in events if event["type"] == "response.output_text.delta"]
    assert response["output"][0]["content"][0]["text"] == "".join(deltas)
    assert response["output"][0]["status"] == "incomplete"
    stored = http.get(f"/v1/responses/{response['id']}").json()
    assert stored["status"] == "failed"


def test_error_before_the_stream_is_the_request_status(http: httpx.Client) -> None:
    response = http.post("/v1/responses", json={"model": "crash-chat", "input": "go", "stream": True})
    assert_error(response, 500, code="predictor_error")


def test_disconnect_stops_the_model(http: httpx.Client) -> None:
    key = "responses disconnect"
    with http.stream("POST", "/v1/responses", json={"model": "slow-chat", "input": key, "stream": True}) as response:
        lines = response.iter_lines()
        while "output_text.delta" not in next(lines):
            pass
    deadline = time.monotonic() + 10
    while not faulty_models.closed(key).is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert faulty_models.closed(key).is_set()
