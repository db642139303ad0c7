"""The core of the API, asserted once and run on both runtimes: in process and on Ray Serve."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from openai import OpenAI

from live_server import LiveServer

TEXT = "the quick brown fox jumps"


@pytest.fixture(scope="module", params=["local", "ray"])
def server(request: pytest.FixtureRequest) -> LiveServer:
    live: LiveServer = request.getfixturevalue(f"{request.param}_server")
    return live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=120) as openai_client:
        yield openai_client


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as raw:
        yield raw


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_chat(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="echo", messages=_user(TEXT))  # type: ignore[arg-type]
    assert completion.choices[0].message.content == TEXT
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (5, 5)


def test_chat_limit_and_alias(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="echo-1", messages=_user(TEXT), max_tokens=2)  # type: ignore[arg-type]
    assert completion.model == "echo-1"
    assert completion.choices[0].message.content == "the quick"
    assert completion.choices[0].finish_reason == "length"


@pytest.mark.parametrize("model", ["echo", "shout"])
def test_chat_stream(client: OpenAI, model: str) -> None:
    stream = client.chat.completions.create(model=model, messages=_user(TEXT), stream=True)  # type: ignore[arg-type]
    chunks = list(stream)
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    # One delta per word: the stream reaches the client piece by piece, not as one reply.
    assert len(deltas) == 5
    assert "".join(deltas) == (TEXT if model == "echo" else TEXT.upper())
    assert chunks[-1].choices == [] or chunks[-1].choices[0].finish_reason == "stop"


def test_embeddings(client: OpenAI) -> None:
    response = client.embeddings.create(model="hash-embed", input=["red apple", "green pear", "red apple"])
    vectors = [np.array(item.embedding) for item in response.data]
    assert [item.index for item in response.data] == [0, 1, 2]
    assert np.allclose(vectors[0], vectors[2])
    assert not np.allclose(vectors[0], vectors[1])
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-5)
    short = client.embeddings.create(model="hash-embed", input="red apple", dimensions=16)
    assert len(short.data[0].embedding) == 16


def test_speech(client: OpenAI) -> None:
    audio = client.audio.speech.create(model="tones", voice="mid", input="hi", response_format="wav").read()
    with wave.open(io.BytesIO(audio)) as wav:
        # Two 0.08 s beeps at 24 kHz.
        assert wav.getnframes() == 2 * round(24_000 * 0.08)


def test_transcription(client: OpenAI) -> None:
    rate = 16_000
    t = np.arange(rate, dtype=np.float32) / rate
    samples = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    result = client.audio.transcriptions.create(model="audio-length", file=("tone.wav", buffer.getvalue()))
    assert result.text == "1.00 seconds, peak 440 Hz"


def test_unknown_model_is_404(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", json={"model": "nope", "messages": _user("hi")})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_bad_parameter_is_400(http: httpx.Client) -> None:
    response = http.post("/v1/embeddings", json={"model": "hash-embed", "input": "x", "dimensions": 4})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "dimensions"


def test_model_error_keeps_its_status(http: httpx.Client) -> None:
    # The model raises a 400 of its own: on Ray it crosses from the replica with its status and body.
    response = http.post("/v1/chat/completions", json={"model": "crash", "messages": _user("refuse")})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {
        "message": "This model refuses the word 'refuse'.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": None,
    }
