"""The built-in models for real, behind an upstream: one modelport serves the built-in chat model, a second
serves it as an upstream model, next to Whisper base and hibari, and talks to it by voice.

A voice round trip: hibari speaks a question, which is sent as `input_audio`; the chat model's answer comes
back as audio, which Whisper transcribes again and which must match the answer's transcript.
"""

from __future__ import annotations

import base64
import io
import re
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jiwer
import pytest
from openai import OpenAI

import live_server
from live_server import LiveServer
from modelport.builtin import hibari, whisper
from modelport.builtin.llama import DEFAULT_NAME
from modelport.config import Settings
from modelport.runtime import Registry
from modelport.upstream import UpstreamConfig, upstream_specs

from .conftest import serve_builtin
from .test_llama_chat import WEATHER, engine_of

pytestmark = pytest.mark.slow

QUESTION = "What color is the sky on a clear day? Answer in a few words."
FORMATS = ["wav", "mp3", "flac", "opus", "aac", "pcm16"]
MAX_WER = 0.15
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def chat_upstream(cache_dir: Path) -> Iterator[tuple[LiveServer, Registry]]:
    yield from serve_builtin("modelport.builtin.llama", Settings(cache_dir=cache_dir, chat_context=2048))


@pytest.fixture(scope="module")
def voice_server(chat_upstream: tuple[LiveServer, Registry], cache_dir: Path) -> Iterator[LiveServer]:
    settings = Settings(cache_dir=cache_dir)
    audio = [spec for spec in whisper.models(settings) if spec.name == "whisper-base"] + hibari.models(settings)
    upstream = UpstreamConfig(base_url=chat_upstream[0].v1, models=[DEFAULT_NAME], names={DEFAULT_NAME: "qwen"})
    with live_server.serve(Registry([*audio, *upstream_specs(upstream)]), settings) as live:
        yield live


@pytest.fixture(scope="module")
def client(voice_server: LiveServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=voice_server.v1, api_key="unused", max_retries=0, timeout=300) as openai_client:
        yield openai_client


@pytest.fixture(scope="module")
def question(client: OpenAI) -> str:
    """The question spoken by hibari, as base64 wav."""
    speech = client.audio.speech.create(model="hibari", voice="heart", input=QUESTION, response_format="wav")
    return base64.b64encode(speech.content).decode()


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


def _heard(client: OpenAI, audio: bytes, audio_format: str) -> str:
    if audio_format == "pcm16":
        # Raw pcm has no header: say what it is by wrapping it in a wav container for the upload.
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(24_000)
            out.writeframes(audio)
        audio, audio_format = buffer.getvalue(), "wav"
    file = (f"answer.{audio_format}", audio)
    return client.audio.transcriptions.create(model="whisper-base", file=file, language="en").text


def _request(question: str, audio_format: str) -> dict[str, Any]:
    return {
        "model": "qwen",
        "messages": [
            {"role": "system", "content": "You answer in plain English words, with no lists, digits or code."},
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": question, "format": "wav"}}]},
        ],
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": audio_format},
        "temperature": 0,
        "max_tokens": 24,
    }


@pytest.mark.parametrize("audio_format", FORMATS)
def test_voice_round_trip(client: OpenAI, question: str, audio_format: str) -> None:
    completion = client.chat.completions.create(**_request(question, audio_format))
    audio = completion.choices[0].message.audio
    assert completion.choices[0].message.content is None
    assert audio is not None
    assert "blue" in audio.transcript.lower()
    heard = _heard(client, base64.b64decode(audio.data), audio_format)
    assert jiwer.wer(_words(audio.transcript), _words(heard)) <= MAX_WER, (audio.transcript, heard)
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 3

    chunks = list(client.chat.completions.create(**_request(question, audio_format), stream=True))
    deltas = [c.choices[0].delta.audio for c in chunks if c.choices and c.choices[0].delta.audio]
    transcript = "".join(d.transcript or "" for d in deltas)
    data = b"".join(base64.b64decode(d.data) for d in deltas if d.data)
    assert transcript == audio.transcript
    assert deltas[-1].expires_at is not None
    heard = _heard(client, data, audio_format)
    assert jiwer.wer(_words(transcript), _words(heard)) <= MAX_WER, (transcript, heard)


def test_chat_and_tools_through_the_upstream(client: OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "What is the capital of France? One word."}]
    completion = client.chat.completions.create(model="qwen", messages=messages, temperature=0)
    assert completion.model == "qwen"
    assert "paris" in (completion.choices[0].message.content or "").lower()
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="qwen", messages=messages, temperature=0, stream=True)
        if c.choices
    )
    assert streamed == completion.choices[0].message.content
    weather: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
    # Under auto the model's own call is recognised; `required` builds a grammar, which is much slower.
    called = client.chat.completions.create(model="qwen", messages=weather, tools=[WEATHER], temperature=0)
    calls = called.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert called.choices[0].finish_reason == "tool_calls"
    # Asked for audio, a turn that ends in tool calls has none.
    spoken = client.chat.completions.create(
        model="qwen",
        messages=weather,
        tools=[WEATHER],
        temperature=0,
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
    )
    assert spoken.choices[0].message.audio is None
    assert spoken.choices[0].message.tool_calls is not None


def test_upstream_4xx_and_disconnect(voice_server: LiveServer, chat_upstream: tuple[LiveServer, Registry]) -> None:
    with httpx.Client(base_url=voice_server.url, timeout=60) as http:
        long_prompt = [{"role": "user", "content": "word " * 5000}]
        over = http.post(CHAT, json={"model": "qwen", "messages": long_prompt})
        assert over.status_code == 400, over.text
        assert over.json()["error"]["type"] == "invalid_request_error"
        counting = [{"role": "user", "content": "Count from 1 to 500, separated by commas."}]
        with http.stream("POST", CHAT, json={"model": "qwen", "messages": counting, "stream": True}) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert sum(1 for _, line in zip(range(6), lines, strict=False) if line.startswith("data: ")) >= 3
            assert engine_of(chat_upstream[1]).active_count() == 1
    engine = engine_of(chat_upstream[1])
    # The slot is freed at the engine's next decode step, which a loaded machine may delay by seconds.
    deadline = time.monotonic() + 60
    while engine.active_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.active_count() == 0, "the upstream kept generating after the client left"
