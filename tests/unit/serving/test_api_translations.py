"""Requests of the Responses and Anthropic Messages APIs as the chat requests the one chat path takes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelport.errors import InvalidRequestError
from modelport.protocol.anthropic import MessagesRequest
from modelport.protocol.responses import ResponsesRequest
from modelport.serving import anthropic, response_input


def responses_chat(**body: Any) -> dict[str, Any]:
    request = ResponsesRequest.model_validate({"model": "m", **body})
    items = response_input.input_items(request)
    chat = response_input.chat_request_for(request, [], response_input.chat_messages(items))
    return chat.model_dump(exclude_unset=True)


def messages_chat(**body: Any) -> dict[str, Any]:
    request = MessagesRequest.model_validate({"model": "m", "max_tokens": 9, **body})
    return anthropic.chat_request_for(request).model_dump(exclude_unset=True)


def test_responses_items_become_chat_messages() -> None:
    chat = responses_chat(
        instructions="Be brief.",
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "t", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "noon"}]},
        ],
        max_output_tokens=5,
        text={"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}, "strict": True}},
        tools=[{"type": "function", "name": "w", "parameters": {"type": "object"}}],
        tool_choice={"type": "function", "name": "w"},
    )
    assert [m["role"] for m in chat["messages"]] == ["system", "user", "assistant", "tool", "tool"]
    assert [c["id"] for c in chat["messages"][2]["tool_calls"]] == ["c1", "c2"]
    assert chat["messages"][4] == {"role": "tool", "tool_call_id": "c2", "content": "noon"}
    assert chat["max_completion_tokens"] == 5
    assert chat["response_format"]["json_schema"] == {"name": "x", "schema": {"type": "object"}, "strict": True}
    assert chat["tools"][0]["function"]["name"] == "w"
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "w"}}


def test_responses_refuses_built_in_tools() -> None:
    with pytest.raises(InvalidRequestError) as refused:
        responses_chat(input="hi", tools=[{"type": "file_search", "vector_store_ids": []}])
    assert refused.value.param == "tools[0].type"


def test_anthropic_blocks_become_chat_messages() -> None:
    chat = messages_chat(
        system=[{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}],
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "t1", "name": "w", "input": {"city": "Oslo"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "and then?"},
                    {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "rain"}]},
                ],
            },
        ],
        tools=[{"name": "w", "input_schema": {"type": "object"}}],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        stop_sequences=["END"],
        top_k=5,
    )
    assert [m["role"] for m in chat["messages"]] == ["system", "user", "assistant", "tool", "user"]
    assert chat["messages"][0]["content"] == "One.\nTwo."
    call = chat["messages"][2]["tool_calls"][0]
    assert (call["id"], json.loads(call["function"]["arguments"])) == ("t1", {"city": "Oslo"})
    assert chat["messages"][3] == {"role": "tool", "tool_call_id": "t1", "content": "rain"}
    assert chat["tool_choice"] == "required"
    assert chat["parallel_tool_calls"] is False
    assert (chat["max_tokens"], chat["stop"], chat["top_k"]) == (9, ["END"], 5)


@pytest.mark.parametrize(
    ("finish", "matched", "expected"),
    [
        ("stop", None, ("end_turn", None)),
        ("length", None, ("max_tokens", None)),
        ("tool_calls", None, ("tool_use", None)),
        ("stop", "END", ("stop_sequence", "END")),
        ("stop", "other", ("end_turn", None)),
    ],
)
def test_anthropic_stop_reasons(finish: str, matched: str | None, expected: tuple[str, str | None]) -> None:
    assert anthropic._stop_reason(finish, matched, ["END"]) == expected
