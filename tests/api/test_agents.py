"""The OpenAI Agents SDK, with its default model (the Responses API), runs an agent with a function tool."""

from __future__ import annotations

import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.models.openai_provider import OpenAIProvider
from openai import AsyncOpenAI, OpenAI

from live_server import LiveServer


@pytest.mark.anyio
async def test_an_agent_calls_its_tool(server: LiveServer, client: OpenAI) -> None:
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    agent = Agent(name="forecaster", instructions="Use the tool.", model="tool-chat", tools=[get_weather])
    async with AsyncOpenAI(base_url=server.v1, api_key="unused", max_retries=0) as openai_client:
        # Traces would be exported to OpenAI's servers; tests reach only loopback.
        config = RunConfig(model_provider=OpenAIProvider(openai_client=openai_client), tracing_disabled=True)
        result = await Runner.run(agent, "Weather in Paris", run_config=config, max_turns=3)
    assert calls == ["Paris"]
    assert result.final_output == "The tools said: sunny in Paris"
    # Both turns went through /v1/responses and were stored there; the second continued the first.
    first, second = (client.responses.retrieve(r.response_id or "") for r in result.raw_responses)
    assert first.output[0].type == "function_call"
    assert second.output_text == "The tools said: sunny in Paris"
