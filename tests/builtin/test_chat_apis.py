"""The built-in chat model for real through the other API surfaces: Anthropic's Messages API with the
`anthropic` SDK, the Responses API with the `openai` client, and an agent of the OpenAI Agents SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from agents import Agent, ModelSettings, RunConfig, Runner, function_tool
from agents.models.openai_provider import OpenAIProvider
from anthropic import Anthropic
from openai import AsyncOpenAI, OpenAI
from pydantic import BaseModel

from live_server import LiveServer
from modelport.builtin.llama import DEFAULT_NAME
from modelport.runtime import Registry

MODEL = DEFAULT_NAME
CAPITAL = "What is the capital of France? Answer with one word."
WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "Get the current weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME: dict[str, Any] = {
    "name": "get_time",
    "description": "Get the current local time in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
FUNCTION = {"type": "function", "name": "get_weather", "parameters": WEATHER["input_schema"]}


@pytest.fixture(scope="module")
def claude(chat_server: tuple[LiveServer, Registry]) -> Iterator[Anthropic]:
    with Anthropic(base_url=chat_server[0].url, api_key="unused", max_retries=0, timeout=600) as client:
        yield client


@pytest.fixture(scope="module")
def client(chat_server: tuple[LiveServer, Registry]) -> Iterator[OpenAI]:
    with OpenAI(base_url=chat_server[0].v1, api_key="unused", max_retries=0, timeout=600) as openai_client:
        yield openai_client


def test_messages_create_and_count_tokens(claude: Anthropic) -> None:
    request: dict[str, Any] = {"system": "You are terse.", "messages": [{"role": "user", "content": CAPITAL}]}
    message = claude.messages.create(model=MODEL, max_tokens=20, extra_body={"temperature": 0}, **request)
    assert "paris" in message.content[0].text.lower()  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    # count_tokens renders and tokenizes the prompt exactly as the model does.
    assert claude.messages.count_tokens(model=MODEL, **request).input_tokens == message.usage.input_tokens


def test_messages_stream(claude: Anthropic) -> None:
    with claude.messages.stream(
        model=MODEL,
        max_tokens=5,
        messages=[{"role": "user", "content": "Count from 1 to 50."}],
        extra_body={"temperature": 0},
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text
    assert final.content[0].text == text  # type: ignore[union-attr]
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == 5


def test_messages_stop_sequence(claude: Anthropic) -> None:
    message = claude.messages.create(
        model=MODEL,
        max_tokens=40,
        stop_sequences=["7"],
        messages=[{"role": "user", "content": "Count from 1 to 20, separated by commas, with no other text."}],
        extra_body={"temperature": 0},
    )
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "7"
    assert "7" not in message.content[0].text  # type: ignore[union-attr]
    assert "6" in message.content[0].text  # type: ignore[union-attr]


def test_messages_tool_choice_any_and_named(claude: Anthropic) -> None:
    question = [{"role": "user", "content": "What is the weather like in Paris right now?"}]
    chosen = claude.messages.create(
        model=MODEL,
        max_tokens=100,
        extra_body={"temperature": 0},
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        tool_choice={"type": "any"},
        messages=question,  # type: ignore[arg-type]
    )
    assert chosen.stop_reason == "tool_use"
    call = next(block for block in chosen.content if block.type == "tool_use")
    assert call.name == "get_weather"
    assert "paris" in str(call.input.get("city", "")).lower()  # type: ignore[union-attr]
    named = claude.messages.create(
        model=MODEL,
        max_tokens=100,
        extra_body={"temperature": 0},
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "get_time"},
        messages=question,  # type: ignore[arg-type]
    )
    assert [block.name for block in named.content if block.type == "tool_use"] == ["get_time"]


def test_responses_create_and_stream(client: OpenAI) -> None:
    response = client.responses.create(model=MODEL, input=CAPITAL, temperature=0, max_output_tokens=20)
    assert "paris" in response.output_text.lower()
    assert response.status == "completed"
    with client.responses.stream(model=MODEL, input=CAPITAL, temperature=0, max_output_tokens=20) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == response.output_text
    cut = client.responses.create(model=MODEL, input="Count from 1 to 50.", max_output_tokens=4, temperature=0)
    assert cut.status == "incomplete"
    assert cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens"


class City(BaseModel):
    name: str
    country: str


def test_responses_parse_enforces_the_schema(client: OpenAI) -> None:
    response = client.responses.parse(
        model=MODEL, input="Describe the city of Paris.", text_format=City, temperature=0, max_output_tokens=40
    )
    assert isinstance(response.output_parsed, City)
    assert "paris" in response.output_parsed.name.lower()


def test_responses_tools_over_two_turns(client: OpenAI) -> None:
    first = client.responses.create(
        model=MODEL,
        input="What is the weather like in Paris right now?",
        tools=[FUNCTION],  # type: ignore[list-item]
        tool_choice="required",
        temperature=0,
    )
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather"
    assert "paris" in json.loads(call.arguments)["city"].lower()
    second = client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Sunny and 23 degrees celsius"}],
        tools=[FUNCTION],  # type: ignore[list-item]
        tool_choice="none",
        temperature=0,
        max_output_tokens=60,
    )
    # The answer can only know the temperature from the tool's output in the stored conversation.
    assert "23" in second.output_text
    assert client.responses.retrieve(second.id).output_text == second.output_text


@pytest.mark.anyio
async def test_an_agent_calls_its_tool(chat_server: tuple[LiveServer, Registry]) -> None:
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        calls.append(city)
        return f"Sunny in {city}"

    agent = Agent(
        name="forecaster",
        instructions="Answer questions about the weather with the get_weather tool.",
        model=MODEL,
        tools=[get_weather],
        model_settings=ModelSettings(tool_choice="required", temperature=0),
        tool_use_behavior="stop_on_first_tool",
    )
    async with AsyncOpenAI(base_url=chat_server[0].v1, api_key="unused", max_retries=0, timeout=600) as openai_client:
        config = RunConfig(model_provider=OpenAIProvider(openai_client=openai_client), tracing_disabled=True)
        result = await Runner.run(agent, "What is the weather like in Paris?", run_config=config, max_turns=2)
    assert len(calls) == 1
    assert "paris" in calls[0].lower()
    assert result.final_output == f"Sunny in {calls[0]}"
