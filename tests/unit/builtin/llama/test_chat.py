"""The chat predictor's handling of tool calls, on scripted model output: which calls come back, when
generation stops, and what a repeated call becomes. The built-in model itself is tested in tests/builtin."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai.types.chat import ChatCompletionChunk

from modelport.builtin.llama.chat import LlamaChat
from modelport.builtin.llama.engine import Event
from modelport.builtin.llama.sampling import SamplingParams

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
REPORT = {
    "type": "json_schema",
    "json_schema": {
        "name": "Report",
        "schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "temperature_c": {"type": "integer"}},
            "required": ["city", "temperature_c"],
        },
    },
}


def call(city: str) -> str:
    return json.dumps({"name": "get_weather", "arguments": {"city": city}})


class ScriptedGeneration:
    """Model output given in advance, a few characters per event, until it ends or is cancelled."""

    def __init__(self, text: str, params: SamplingParams) -> None:
        self.text = text
        self.params = params
        self.cancelled_at: int | None = None
        self.sent = 0

    def cancel(self) -> None:
        if self.cancelled_at is None:
            self.cancelled_at = self.sent

    async def events(self) -> AsyncIterator[Event]:
        pieces = [self.text[i : i + 3] for i in range(0, len(self.text), 3)]
        for number, piece in enumerate(pieces, 1):
            if self.cancelled_at is not None:
                return
            self.sent += len(piece)
            last = number == len(pieces)
            yield Event(piece, finish_reason="stop" if last else None, prompt_tokens=5, completion_tokens=number)


class ScriptedEngine:
    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.generations: list[ScriptedGeneration] = []

    def submit(self, prompt: list[int], params: SamplingParams) -> ScriptedGeneration:
        generation = ScriptedGeneration(self.texts.pop(0), params)
        self.generations.append(generation)
        return generation

    def submit_all(self, prompt: list[int], params: list[SamplingParams]) -> list[ScriptedGeneration]:
        return [self.submit(prompt, p) for p in params]


def scripted_chat(*texts: str) -> tuple[LlamaChat, ScriptedEngine]:
    chat = LlamaChat(lambda: None)  # type: ignore[arg-type, return-value]
    engine = ScriptedEngine(*texts)
    chat.engine = engine  # type: ignore[assignment]
    chat._prompt = lambda messages, tools: [1, 2, 3, 4, 5]  # type: ignore[method-assign]
    return chat, engine


async def answer(chat: LlamaChat, messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """The choice the chunks add up to: content, calls (name, arguments) and finish reason."""
    content, calls, finish = "", {}, None
    chunks: list[ChatCompletionChunk] = [c async for c in chat(messages, tools=[WEATHER], **fields)]  # type: ignore[arg-type]
    for chunk in chunks:
        for choice in chunk.choices:
            content += choice.delta.content or ""
            for delta in choice.delta.tool_calls or ():
                entry = calls.setdefault(delta.index, ["", ""])
                entry[0] += (delta.function and delta.function.name) or ""
                entry[1] += (delta.function and delta.function.arguments) or ""
            finish = choice.finish_reason or finish
    usage = chunks[-1].usage
    return {
        "content": content,
        "calls": [(name, json.loads(arguments)) for name, arguments in calls.values()],
        "finish": finish,
        "completion_tokens": usage.completion_tokens if usage else None,
    }


ASKED = [{"role": "user", "content": "What is the weather in Paris and in Tokyo?"}]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "text",
    [
        f"{call('Paris')}\n{call('Tokyo')}",
        f"<tool_call>\n{call('Paris')}\n</tool_call>\n<tool_call>\n{call('Tokyo')}\n</tool_call>",
        f"```json\n{call('Paris')}\n```\n```json\n{call('Tokyo')}\n```",
    ],
    ids=["bare", "tagged", "fenced"],
)
async def test_several_calls_under_auto_all_come_back(text: str) -> None:
    chat, _ = scripted_chat(text)
    result = await answer(chat, ASKED)
    assert result["calls"] == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Tokyo"})]
    assert result["finish"] == "tool_calls"
    assert result["content"] == ""


@pytest.mark.anyio
async def test_without_parallel_calls_only_the_first_comes_back_and_generation_stops() -> None:
    chat, engine = scripted_chat(f"{call('Paris')}\n{call('Tokyo')}")
    result = await answer(chat, ASKED, parallel_tool_calls=False)
    assert result["calls"] == [("get_weather", {"city": "Paris"})]
    assert result["finish"] == "tool_calls"
    assert engine.generations[0].cancelled_at is not None


@pytest.mark.anyio
async def test_a_repeated_call_ends_the_output_with_finish_reason_tool_calls() -> None:
    # Without the stop, this output would run to the token limit and finish with "length".
    looping = "\n".join([call("Paris")] * 20)
    chat, engine = scripted_chat(looping)
    result = await answer(chat, ASKED, max_tokens=4000)
    assert result["calls"] == [("get_weather", {"city": "Paris"})]
    assert result["finish"] == "tool_calls"
    cancelled_at = engine.generations[0].cancelled_at
    assert cancelled_at is not None
    assert cancelled_at < 2 * len(call("Paris")) + 4


CALLED = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature_c": 31}'},
]


@pytest.mark.anyio
async def test_repeating_an_answered_call_under_a_response_format_gives_the_answer() -> None:
    chat, engine = scripted_chat(call("Paris"), '{"city": "Paris", "temperature_c": 31}')
    result = await answer(chat, CALLED, response_format=REPORT)
    assert result["calls"] == []
    assert json.loads(result["content"]) == {"city": "Paris", "temperature_c": 31}
    assert result["finish"] == "stop"
    first, second = engine.generations
    assert first.cancelled_at is not None
    # The second try may only answer in the format: its grammar has the schema and no calls.
    assert first.params.grammar is not None
    assert "call-root" in first.params.grammar
    assert second.params.grammar is not None
    assert "call" not in second.params.grammar


@pytest.mark.anyio
async def test_a_new_call_after_an_answered_one_is_a_call() -> None:
    chat, engine = scripted_chat(call("Lyon"))
    result = await answer(chat, CALLED, response_format=REPORT)
    assert result["calls"] == [("get_weather", {"city": "Lyon"})]
    assert result["finish"] == "tool_calls"
    assert len(engine.generations) == 1


@pytest.mark.anyio
async def test_a_call_answered_before_the_user_spoke_again_may_be_made_again() -> None:
    chat, engine = scripted_chat(call("Paris"))
    again = [*CALLED, {"role": "assistant", "content": "31 degrees."}, {"role": "user", "content": "And now?"}]
    result = await answer(chat, again, response_format=REPORT)
    assert result["calls"] == [("get_weather", {"city": "Paris"})]
    assert len(engine.generations) == 1
