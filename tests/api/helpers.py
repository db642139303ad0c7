"""Assertions and wire parsing shared by the API tests."""

from __future__ import annotations

import io
import json
import wave
from typing import Any

import httpx
import numpy as np


def assert_error(
    response: httpx.Response, status: int, *, param: Any = ..., code: Any = ..., error_type: str | None = None
) -> dict[str, Any]:
    """Assert `response` is OpenAI's error body with `status`; return the inner `error` object.

    `param` and `code` are checked when given (None included); `error_type` defaults to the one OpenAI uses
    for the status class.
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str)
    assert error["message"]
    expected_type = error_type or ("server_error" if status >= 500 else "invalid_request_error")
    assert error["type"] == expected_type, error
    if param is not ...:
        assert error["param"] == param, error
    if code is not ...:
        assert error["code"] == code, error
    return error


def sse_payloads(body: str) -> list[str]:
    """The `data` payloads of an SSE body, asserting every event is exactly `data: <payload>\\n\\n`."""
    assert body.endswith("\n\n"), body[-200:]
    payloads = []
    for event in body.split("\n\n")[:-1]:
        assert event.startswith("data: "), event
        assert "\n" not in event, event
        payloads.append(event.removeprefix("data: "))
    return payloads


def sse_json(body: str) -> list[dict[str, Any]]:
    """The JSON events of an SSE body that ends with `data: [DONE]`, in order, without the `[DONE]`."""
    assert body.endswith("data: [DONE]\n\n"), body[-200:]
    payloads = sse_payloads(body)
    assert payloads.count("[DONE]") == 1
    return [json.loads(payload) for payload in payloads[:-1]]


def sse_audio_events(body: str, done: str) -> list[dict[str, Any]]:
    """The JSON events of a speech or transcription SSE body: it ends with its last event, of type `done`
    (or an error event), and has no `data: [DONE]` (OpenAI sends none there)."""
    payloads = sse_payloads(body)
    assert "[DONE]" not in payloads, body[-200:]
    events = [json.loads(payload) for payload in payloads]
    assert events[-1].get("type") == done or "error" in events[-1], events[-1]
    assert all(event.get("type") != done for event in events[:-1])
    return events


def user(text: str) -> list[dict[str, Any]]:
    """A conversation of one user message."""
    return [{"role": "user", "content": text}]


def named_events(body: str) -> list[dict[str, Any]]:
    """The events of a stream that names each event (Responses, Anthropic Messages), in order.

    Asserts every event is exactly `event: <type>` then `data: <json>` whose `type` is that name, and that
    nothing (no `[DONE]`) follows the last one.
    """
    assert body.endswith("\n\n"), body[-200:]
    events = []
    for block in body.split("\n\n")[:-1]:
        lines = block.split("\n")
        assert len(lines) == 2, block
        assert lines[0].startswith("event: "), block
        assert lines[1].startswith("data: "), block
        event = json.loads(lines[1].removeprefix("data: "))
        assert event["type"] == lines[0].removeprefix("event: "), block
        events.append(event)
    assert "[DONE]" not in body
    return events


def anthropic_error(response: httpx.Response, status: int, error_type: str) -> str:
    """Assert `response` is Anthropic's error body with `status` and `error_type`; return its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"type", "error"}, body
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}, body
    assert body["error"]["type"] == error_type, body
    message: str = body["error"]["message"]
    assert message
    return message


def tone_wav(seconds: float, rate: int = 16_000) -> bytes:
    """A 16-bit mono WAV file of a 440 Hz tone."""
    t = np.arange(round(rate * seconds)) / rate
    samples = np.rint(0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()
