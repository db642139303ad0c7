"""Predictors that raise or break their contract: a 500 naming the model, and the server lives on."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai import AsyncOpenAI, AsyncStream, OpenAI, Stream
from openai.types.chat import ChatCompletionChunk

from .helpers import assert_error, sse_json, user

CHAT = "/v1/chat/completions"


def _assert_names_model(error: dict[str, Any], model: str) -> None:
    assert f"`{model}`" in error["message"], error


def _assert_still_serving(http: httpx.Client) -> None:
    response = http.post(CHAT, json={"model": "echo", "messages": user("still here")})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "still here"


@pytest.mark.parametrize("model", ["crash-chat", "crash-gen-chat"])
@pytest.mark.parametrize("stream", [False, True])
def test_chat_predictor_raises(http: httpx.Client, model: str, stream: bool) -> None:
    response = http.post(CHAT, json={"model": model, "messages": user("hi"), "stream": stream})
    # Nothing was streamed yet, so even a streaming request gets the error's own status code.
    error = assert_error(response, 500)
    _assert_names_model(error, model)
    assert "RuntimeError" in error["message"]
    _assert_still_serving(http)


def test_chat_predictor_raises_through_client(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="crash-chat", messages=user("hi"))
    assert caught.value.status_code == 500
    assert "crash-chat" in caught.value.message
    assert client.chat.completions.create(model="echo", messages=user("ok")).choices[0].message.content == "ok"


def test_chat_yields_wrong_type(http: httpx.Client) -> None:
    for stream in (False, True):
        response = http.post(CHAT, json={"model": "bad-chunk-chat", "messages": user("hi"), "stream": stream})
        error = assert_error(response, 500)
        _assert_names_model(error, "bad-chunk-chat")
        assert "int" in error["message"]
    _assert_still_serving(http)


@pytest.mark.parametrize("model", ["flaky-chat", "flaky-async-chat"])
def test_mid_stream_failure_wire(http: httpx.Client, model: str) -> None:
    with http.stream("POST", CHAT, json={"model": model, "messages": user("hi"), "stream": True}) as response:
        assert response.status_code == 200
        raw = response.read().decode()
    events = sse_json(raw)
    *chunks, failure = events
    assert [chunk["choices"][0]["delta"].get("content") for chunk in chunks] == ["one", " two"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert set(failure) == {"error"}
    assert set(failure["error"]) == {"message", "type", "param", "code"}
    assert failure["error"]["type"] == "server_error"
    assert f"`{model}`" in failure["error"]["message"]
    _assert_still_serving(http)


def test_mid_stream_failure_non_streaming(http: httpx.Client) -> None:
    error = assert_error(http.post(CHAT, json={"model": "flaky-chat", "messages": user("hi")}), 500)
    _assert_names_model(error, "flaky-chat")


def _drain(stream: Stream[ChatCompletionChunk], received: list[str]) -> None:
    for chunk in stream:
        received.append(chunk.choices[0].delta.content or "")


async def _drain_async(stream: AsyncStream[ChatCompletionChunk], received: list[str]) -> None:
    async for chunk in stream:
        received.append(chunk.choices[0].delta.content or "")


def test_mid_stream_failure_through_client(client: OpenAI) -> None:
    received: list[str] = []
    with (
        client.chat.completions.create(model="flaky-chat", messages=user("hi"), stream=True) as stream,
        pytest.raises(openai.APIError) as caught,
    ):
        _drain(stream, received)
    assert received == ["one", " two"]
    assert "flaky-chat" in caught.value.message


@pytest.mark.anyio
async def test_mid_stream_failure_async_client(async_client: AsyncOpenAI) -> None:
    received: list[str] = []
    stream = await async_client.chat.completions.create(model="flaky-async-chat", messages=user("hi"), stream=True)
    async with stream:
        with pytest.raises(openai.APIError) as caught:
            await _drain_async(stream, received)
    assert received == ["one", " two"]
    assert "flaky-async-chat" in caught.value.message


@pytest.mark.parametrize(
    ("model", "hint"),
    [
        ("embed-float64", "float64"),
        ("embed-short", "vectors"),
        ("embed-nan", "NaN"),
        ("embed-crash", "ValueError"),
    ],
)
def test_embedder_faults(http: httpx.Client, client: OpenAI, model: str, hint: str) -> None:
    error = assert_error(http.post("/v1/embeddings", json={"model": model, "input": ["a", "b"]}), 500)
    _assert_names_model(error, model)
    assert hint in error["message"]
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model=model, input=["a", "b"])
    assert len(client.embeddings.create(model="hash-embed", input="ok").data) == 1


def test_speech_returns_int16(http: httpx.Client, client: OpenAI) -> None:
    response = http.post("/v1/audio/speech", json={"model": "speak-int16", "voice": "flat", "input": "hi"})
    error = assert_error(response, 500)
    _assert_names_model(error, "speak-int16")
    assert "int16" in error["message"]
    with pytest.raises(openai.InternalServerError):
        client.audio.speech.create(model="speak-int16", voice="flat", input="hi")
    assert client.audio.speech.create(model="tones", voice="mid", input="ok", response_format="pcm").content


def test_transcriber_returns_bytes(http: httpx.Client) -> None:
    wav = _silence_wav()
    response = http.post("/v1/audio/transcriptions", data={"model": "transcribe-bytes"}, files={"file": ("a.wav", wav)})
    error = assert_error(response, 500)
    _assert_names_model(error, "transcribe-bytes")
    assert "bytes" in error["message"]
    ok = http.post("/v1/audio/transcriptions", data={"model": "audio-length"}, files={"file": ("a.wav", wav)})
    assert ok.status_code == 200


def _silence_wav() -> bytes:
    """A tenth of a second of 16 kHz silence as a minimal WAV file."""
    frames = np.zeros(1600, dtype="<i2").tobytes()
    header = b"".join(
        [
            b"RIFF",
            (36 + len(frames)).to_bytes(4, "little"),
            b"WAVEfmt ",
            (16).to_bytes(4, "little"),
            (1).to_bytes(2, "little"),  # PCM
            (1).to_bytes(2, "little"),  # mono
            (16_000).to_bytes(4, "little"),
            (32_000).to_bytes(4, "little"),
            (2).to_bytes(2, "little"),
            (16).to_bytes(2, "little"),
            b"data",
            len(frames).to_bytes(4, "little"),
        ]
    )
    return header + frames


def test_many_faults_in_a_row(http: httpx.Client) -> None:
    for _ in range(20):
        assert http.post(CHAT, json={"model": "crash-chat", "messages": user("hi")}).status_code == 500
    _assert_still_serving(http)
    assert http.get("/health").json()["status"] == "ok"
