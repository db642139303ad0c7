"""Tool calls with structured output on the built-in chat model, through the clients that use them: the
OpenAI Agents SDK, pydantic-ai and openai's `parse()`. Each must call its tool, then answer in the format
with the tool's value, and a call ends the output with `finish_reason` "tool_calls".

This model writes one call per turn for every prompt tried (it never wrote two different calls), so that
several calls all come back is shown on scripted output in tests/unit/builtin/llama/test_chat.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from pydantic import BaseModel

from live_server import LiveServer
from modelport.builtin.llama import DEFAULT_NAME
from modelport.runtime import Registry

MODEL = DEFAULT_NAME
INSTRUCTIONS = "You are a weather assistant. Use the get_weather tool, then report what it returned."
QUESTION = "What is the weather in Paris?"
# Not a temperature a model would guess for Paris: seeing it in the answer means the tool's value was used.
WEATHER = {"city": "Paris", "temperature_c": 31, "sky": "clear"}


class Report(BaseModel):
    city: str
    temperature_c: int


class GetWeather(BaseModel):
    """Get the current weather in a city."""

    city: str


@pytest.fixture
async def async_client(chat_server: tuple[LiveServer, Registry]) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=chat_server[0].v1, api_key="unused", max_retries=0, timeout=300) as client:
        yield client


def get_weather_calls() -> tuple[list[str], Any]:
    """A get_weather function that records the cities it was asked about."""
    cities: list[str] = []

    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        cities.append(city)
        return json.dumps(WEATHER)

    return cities, get_weather


@pytest.mark.anyio
async def test_openai_agents_sdk_agent_calls_its_tool_then_answers_in_its_output_type(
    async_client: AsyncOpenAI,
) -> None:
    from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, RunConfig, Runner, function_tool

    cities, get_weather = get_weather_calls()
    agent = Agent(
        name="weather",
        instructions=INSTRUCTIONS,
        model=OpenAIChatCompletionsModel(model=MODEL, openai_client=async_client),
        model_settings=ModelSettings(temperature=0),
        tools=[function_tool(get_weather)],
        output_type=Report,
    )
    result = await Runner.run(agent, QUESTION, run_config=RunConfig(tracing_disabled=True), max_turns=4)
    assert [city.lower() for city in cities] == ["paris"]
    assert result.final_output == Report(city="Paris", temperature_c=31)


@pytest.mark.anyio
async def test_pydantic_ai_agent_calls_its_tool_then_answers_in_native_output(async_client: AsyncOpenAI) -> None:
    from pydantic_ai import Agent, NativeOutput
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    cities, get_weather = get_weather_calls()
    model = OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=async_client))
    agent = Agent(model, output_type=NativeOutput(Report), instructions=INSTRUCTIONS, tools=[get_weather])
    result = await agent.run(QUESTION, model_settings={"temperature": 0})
    assert [city.lower() for city in cities] == ["paris"]
    assert result.output == Report(city="Paris", temperature_c=31)


def test_parse_with_tools_and_a_response_format_gives_the_call(client: OpenAI) -> None:
    # No max_tokens: the output ends with the call, not at the context's end.
    completion = client.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": QUESTION}],
        tools=[openai.pydantic_function_tool(GetWeather, name="get_weather")],
        response_format=Report,
        temperature=0,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1
    assert calls[0].function.parsed_arguments == GetWeather(city="Paris")  # type: ignore[union-attr]
    assert completion.usage is not None
    assert completion.usage.completion_tokens < 40


def test_stream_helper_with_tools_under_auto_ends_with_the_call(client: OpenAI) -> None:
    with client.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": QUESTION}],
        tools=[openai.pydantic_function_tool(GetWeather, name="get_weather")],
        temperature=0,
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason == "tool_calls"
    call = (final.choices[0].message.tool_calls or [])[0]
    assert call.function.parsed_arguments == GetWeather(city="Paris")  # type: ignore[union-attr]
