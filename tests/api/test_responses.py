"""`/v1/responses` through the openai client: create, stream, parse, tools over turns, and the stored state."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from pydantic import BaseModel

import live_server
from live_server import LiveServer
from modelport.config import Settings
from modelport.runtime import Registry, load_targets

from .conftest import EXAMPLES
from .helpers import assert_error

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}


def test_create_answers_with_openai_shape(client: OpenAI) -> None:
    response = client.responses.create(
        model="echo", input="hello there world", instructions="Be brief.", metadata={"run": "1"}, user="u-1"
    )
    assert response.id.startswith("resp_")
    assert response.object == "response"
    assert response.status == "completed"
    assert response.model == "echo"
    assert response.output_text == "hello there world"
    assert response.instructions == "Be brief."
    assert response.metadata == {"run": "1"}
    assert response.user == "u-1"
    assert response.error is None
    assert response.incomplete_details is None
    [message] = response.output
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.status == "completed"
    assert message.id.startswith("msg_")
    assert response.usage is not None
    assert response.usage.output_tokens == 3
    assert response.usage.total_tokens == response.usage.input_tokens + 3


def test_input_items_and_parts(client: OpenAI) -> None:
    response = client.responses.create(
        model="echo",
        input=[
            {"role": "developer", "content": "Repeat the user."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "from parts"}]},
        ],
    )
    assert response.output_text == "from parts"
    items = client.responses.input_items.list(response.id, order="asc")
    assert [item.type for item in items.data] == ["message", "message"]
    assert [getattr(item, "role", None) for item in items.data] == ["developer", "user"]
    assert all(item.id for item in items.data)
    newest_first = client.responses.input_items.list(response.id)
    assert [item.id for item in newest_first.data] == [item.id for item in reversed(items.data)]
    one = client.responses.input_items.list(response.id, limit=1, order="asc")
    assert one.has_more
    assert [item.id for item in one.data] == [items.data[0].id]


def test_output_limit_gives_incomplete(client: OpenAI) -> None:
    response = client.responses.create(model="echo", input="one two three four", max_output_tokens=2)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == "one two"
    assert response.output[0].status == "incomplete"


def test_stream_helper_gives_the_final_response(client: OpenAI) -> None:
    with client.responses.stream(model="echo", input="stream these words") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["stream", " these", " words"]
    assert final.output_text == "stream these words"
    assert final.status == "completed"
    assert client.responses.retrieve(final.id).output_text == "stream these words"


class Forecast(BaseModel):
    city: str
    degrees: int
    sunny: bool


def test_parse_with_a_pydantic_model(client: OpenAI) -> None:
    response = client.responses.parse(model="tool-chat", input="Forecast for Lisbon", text_format=Forecast)
    assert response.output_parsed == Forecast(city="Lisbon", degrees=1, sunny=True)


def test_function_tools_over_two_turns(client: OpenAI) -> None:
    first = client.responses.create(model="tool-chat", input="Weather in Paris", tools=[WEATHER])  # type: ignore[list-item]
    [call] = first.output
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert call.call_id
    assert call.status == "completed"
    assert first.tools[0].type == "function"

    second = client.responses.create(
        model="tool-chat",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "22 degrees"}],
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert second.output_text == "The tools said: 22 degrees"
    assert second.previous_response_id == first.id
    [item] = client.responses.input_items.list(second.id).data
    assert item.type == "function_call_output"


def test_named_tool_choice_and_parallel_calls(client: OpenAI) -> None:
    time_tool = {**WEATHER, "name": "get_time", "description": "The time in a city"}
    named = client.responses.create(
        model="tool-chat",
        input="What now in Oslo",
        tools=[WEATHER, time_tool],  # type: ignore[list-item]
        tool_choice={"type": "function", "name": "get_time"},
    )
    assert [item.name for item in named.output if item.type == "function_call"] == ["get_time"]
    both = client.responses.create(
        model="tool-chat",
        input="get_weather and get_time in Oslo",
        tools=[WEATHER, time_tool],  # type: ignore[list-item]
    )
    assert [item.name for item in both.output if item.type == "function_call"] == ["get_weather", "get_time"]
    assert len({item.id for item in both.output}) == 2


def test_retrieve_and_delete(client: OpenAI) -> None:
    created = client.responses.create(model="echo", input="keep me")
    assert client.responses.retrieve(created.id) == created
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list(created.id)


def test_store_false_keeps_nothing(client: OpenAI) -> None:
    response = client.responses.create(model="echo", input="forget me", store=False)
    assert response.output_text == "forget me"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_unknown_ids_are_404(http: httpx.Client) -> None:
    assert_error(http.get("/v1/responses/resp_nope"), 404, param="response_id")
    body = {"model": "echo", "input": "hi", "previous_response_id": "resp_nope"}
    assert_error(
        http.post("/v1/responses", json=body), 404, param="previous_response_id", code="previous_response_not_found"
    )


@pytest.mark.parametrize("tool", ["web_search", "file_search", "computer_use_preview", "code_interpreter"])
def test_built_in_tools_are_a_clear_400(http: httpx.Client, tool: str) -> None:
    body = {"model": "echo", "input": "hi", "tools": [{"type": tool}]}
    error = assert_error(http.post("/v1/responses", json=body), 400, param="tools[0].type", code="unsupported_tool")
    assert tool in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hi"}, "model"),
        ({"model": "echo"}, "input"),
        ({"model": "echo", "input": [{"type": "computer_call_output", "call_id": "x"}]}, "input[0]"),
        ({"model": "echo", "input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "echo", "input": "hi", "text": {"format": {"type": "xml"}}}, "text.format.type"),
        ({"model": "echo", "input": "hi", "tool_choice": "sometimes"}, "tool_choice"),
    ],
)
def test_bad_requests_are_400(http: httpx.Client, body: dict[str, object], param: str) -> None:
    error = assert_error(http.post("/v1/responses", json=body), 400)
    assert (error["param"] or "").startswith(param), error


def test_wrong_task_and_unknown_model(http: httpx.Client) -> None:
    assert_error(http.post("/v1/responses", json={"model": "hash-embed", "input": "hi"}), 400, param="model")
    assert_error(http.post("/v1/responses", json={"model": "nope", "input": "hi"}), 404, code="model_not_found")


def test_a_restart_keeps_stored_responses(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    with live_server.serve(_echo_registry(), settings) as first, _client(first) as before:
        created = before.responses.create(model="echo", input="remember this")
    assert (tmp_path / "responses.sqlite3").is_file()
    with live_server.serve(_echo_registry(), settings) as second, _client(second) as after:
        assert after.responses.retrieve(created.id).output_text == "remember this"
        follow = after.responses.create(model="shout", input="and this", previous_response_id=created.id)
    assert follow.output_text == "AND THIS"


def _echo_registry() -> Registry:
    return Registry(load_targets([str(EXAMPLES / "echo_chat.py")]))


def _client(live: LiveServer) -> OpenAI:
    return OpenAI(base_url=live.v1, api_key="unused", max_retries=0)


def test_every_chat_model_answers(server: LiveServer) -> None:
    with OpenAI(base_url=server.v1, api_key="unused", max_retries=0) as openai_client:
        assert openai_client.responses.create(model="shout", input="loud words").output_text == "LOUD WORDS"
