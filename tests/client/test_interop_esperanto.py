"""The published `esperanto` package's openai-compatible providers, pointed at modelport."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from esperanto import AIFactory as EsperantoFactory

from .conftest import LiveServer
from .test_speech import tone_wav

HELLO = [{"role": "user", "content": "hello there"}]


def config(server: LiveServer) -> dict[str, Any]:
    return {"base_url": server.v1, "api_key": "unused"}


def test_chat(server: LiveServer) -> None:
    model = EsperantoFactory.create_language("openai-compatible", "echo", config=config(server))
    response = model.chat_complete(HELLO)
    assert response.choices[0].message.content == "hello there"
    assert response.usage.completion_tokens == 2


def test_chat_streaming(server: LiveServer) -> None:
    model = EsperantoFactory.create_language("openai-compatible", "shout", config=config(server))
    chunks = list(model.chat_complete(HELLO, stream=True))
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == "HELLO THERE"


@pytest.mark.anyio
async def test_chat_async_streaming(server: LiveServer) -> None:
    # Closed at the end: the async client belongs to this test's event loop.
    async with EsperantoFactory.create_language("openai-compatible", "echo", config=config(server)) as model:
        stream = await model.achat_complete(HELLO, stream=True)
        assert "".join([chunk.choices[0].delta.content or "" async for chunk in stream]) == "hello there"


def test_embed(server: LiveServer) -> None:
    model = EsperantoFactory.create_embedding("openai-compatible", "hash-embed", config=config(server))
    vectors = model.embed(["hello world", "goodbye"])
    assert [len(vector) for vector in vectors] == [256, 256]


def test_transcribe(server: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    path.write_bytes(tone_wav())
    model = EsperantoFactory.create_speech_to_text("openai-compatible", "audio-length", config=config(server))
    assert model.transcribe(str(path)).text == "0.50 seconds, peak 440 Hz"


def test_speak(server: LiveServer, tmp_path: Path) -> None:
    model = EsperantoFactory.create_text_to_speech("openai-compatible", "tones", config=config(server))
    response = model.generate_speech("hi", voice="mid", output_file=tmp_path / "hi.mp3")
    assert response.audio_data[:3] == b"ID3" or response.audio_data[0] == 0xFF
    assert (tmp_path / "hi.mp3").read_bytes() == response.audio_data


def test_environment_configuration(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same variables configure esperanto and modelport.client.
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL_LLM", server.v1)
    model = EsperantoFactory.create_language("openai-compatible", "shout")
    assert model.chat_complete(HELLO).choices[0].message.content == "HELLO THERE"
