"""Request errors: every one is OpenAI's `{"error": {...}}` body with the right status, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from .helpers import assert_error, user

CHAT = "/v1/chat/completions"


def test_malformed_json(http: httpx.Client) -> None:
    response = http.post(CHAT, content=b'{"model": "echo", "messages": [', headers={"content-type": "application/json"})
    assert_error(response, 400, param=None)


def test_missing_model(http: httpx.Client) -> None:
    error = assert_error(http.post(CHAT, json={"messages": user("hi")}), 400, param="model")
    assert "model" in error["message"]


def test_missing_messages(http: httpx.Client) -> None:
    assert_error(http.post(CHAT, json={"model": "echo"}), 400, param="messages")


def test_empty_messages(http: httpx.Client, client: OpenAI) -> None:
    assert_error(http.post(CHAT, json={"model": "echo", "messages": []}), 400, param="messages")
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="echo", messages=[])
    assert caught.value.param == "messages"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", "hot"),
        ("temperature", 3),
        ("top_p", 1.5),
        ("n", 0),
        ("max_tokens", 0),
        ("max_tokens", "many"),
        ("max_completion_tokens", -5),
        ("messages", "hello"),
        ("messages", {"role": "user", "content": "hi"}),
        ("stream", "yes please"),
        ("model", 42),
    ],
)
def test_wrong_types(http: httpx.Client, field: str, value: Any) -> None:
    body: dict[str, Any] = {"model": "echo", "messages": user("hi"), field: value}
    error = assert_error(http.post(CHAT, json=body), 400)
    assert error["param"] is not None
    assert error["param"].split(".")[0] == field, error


def test_wrong_type_through_client(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="echo", messages=user("hi"), temperature="hot")  # type: ignore[arg-type]
    assert caught.value.param == "temperature"


@pytest.mark.parametrize(
    "message",
    [
        {"role": "user"},
        {"role": "wizard", "content": "hi"},
        {"content": "hi"},
        {"role": "user", "content": 5},
        {"role": "user", "content": [{"type": "video", "video": "x"}]},
        {"role": "assistant"},
        {"role": "tool", "content": "rainy"},
        "hello",
    ],
)
def test_invalid_message(http: httpx.Client, message: Any) -> None:
    error = assert_error(http.post(CHAT, json={"model": "echo", "messages": [message]}), 400)
    assert error["param"] is not None
    assert error["param"].startswith("messages")


def test_invalid_predictor_parameter(http: httpx.Client) -> None:
    # `shout` takes `delay: float`; a request field of that name is checked against the type.
    body = {"model": "shout", "messages": user("hi"), "delay": "slow"}
    error = assert_error(http.post(CHAT, json=body), 400, param="delay")
    assert "delay" in error["message"]


def test_too_many_stop_sequences(http: httpx.Client) -> None:
    body = {"model": "echo", "messages": user("hi"), "stop": ["a", "b", "c", "d", "e"]}
    error = assert_error(http.post(CHAT, json=body), 400)
    assert error["param"] == "stop", error


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"3", b"null", b"true"])
def test_body_not_an_object(http: httpx.Client, body: bytes) -> None:
    error = assert_error(http.post(CHAT, content=body, headers={"content-type": "application/json"}), 400)
    # The message speaks about the body, not about a parameter called None.
    assert "'None'" not in error["message"], error


@pytest.mark.parametrize("path", [CHAT, "/v1/embeddings", "/v1/audio/speech"])
def test_empty_body(http: httpx.Client, path: str) -> None:
    error = assert_error(http.post(path, content=b"", headers={"content-type": "application/json"}), 400)
    # The whole body is missing, not a parameter called None.
    assert "'None'" not in error["message"], error


def test_unknown_model(http: httpx.Client) -> None:
    error = assert_error(
        http.post(CHAT, json={"model": "gpt-4o", "messages": user("hi")}), 404, code="model_not_found", param="model"
    )
    assert "gpt-4o" in error["message"]
    for name in ("echo", "echo-1", "shout", "hash-embed", "tones", "audio-length"):
        assert name in error["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/embeddings", {"model": "nope", "input": "x"}),
        ("/v1/audio/speech", {"model": "nope", "input": "x", "voice": "mid"}),
    ],
)
def test_unknown_model_everywhere(http: httpx.Client, path: str, body: dict[str, Any]) -> None:
    assert_error(http.post(path, json=body), 404, code="model_not_found", param="model")


def test_unknown_model_transcription(http: httpx.Client) -> None:
    response = http.post("/v1/audio/transcriptions", data={"model": "nope"}, files={"file": ("a.wav", b"RIFF")})
    assert_error(response, 404, code="model_not_found", param="model")


def test_unknown_model_through_client(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=user("hi"))
    assert caught.value.code == "model_not_found"
    assert "echo" in caught.value.message


@pytest.mark.parametrize(
    ("path", "body", "served_at"),
    [
        ("/v1/embeddings", {"model": "echo", "input": "x"}, "/v1/chat/completions"),
        (CHAT, {"model": "hash-embed", "messages": user("hi")}, "/v1/embeddings"),
        ("/v1/audio/speech", {"model": "shout", "input": "x", "voice": "mid"}, "/v1/chat/completions"),
        ("/v1/embeddings", {"model": "tones", "input": "x"}, "/v1/audio/speech"),
    ],
)
def test_model_on_the_wrong_endpoint(http: httpx.Client, path: str, body: dict[str, Any], served_at: str) -> None:
    error = assert_error(http.post(path, json=body), 400, param="model")
    assert served_at in error["message"]


def test_chat_model_on_embeddings_through_client(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="echo", input="x")
    assert caught.value.status_code == 400
    assert "hash-embed" in caught.value.message


def test_unknown_route(http: httpx.Client) -> None:
    error = assert_error(http.get("/v1/nothing-here"), 404)
    assert "/v1/nothing-here" in error["message"]
    assert_error(http.post("/v2/chat/completions", json={}), 404)


def test_unknown_route_through_client(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.files.list()


def test_wrong_method(http: httpx.Client) -> None:
    assert_error(http.get(CHAT), 405)
    assert_error(http.delete("/v1/models"), 405)


def test_wrong_content_type(http: httpx.Client) -> None:
    response = http.post(CHAT, content=b'{"model": "echo", "messages": []}', headers={"content-type": "text/plain"})
    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)


def test_streaming_request_errors_before_the_stream(http: httpx.Client) -> None:
    # A request that fails validation gets its status code, not a 200 stream with an error event.
    response = http.post(CHAT, json={"model": "gpt-4o", "messages": user("hi"), "stream": True})
    assert_error(response, 404, code="model_not_found")
