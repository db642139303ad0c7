"""A server with an API key and a 64 KiB body limit: 401s, 413s, and the routes left open."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import OpenAI

from .conftest import API_KEY, SMALL_BODY_LIMIT, LiveServer
from .helpers import assert_error, user

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def keyed_client(locked_server: LiveServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=locked_server.v1, api_key=API_KEY, max_retries=0, timeout=30) as openai_client:
        yield openai_client


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/models"), ("GET", "/v1/models/echo"), ("POST", CHAT), ("POST", "/v1/embeddings")],
)
def test_no_key(locked_http: httpx.Client, method: str, path: str) -> None:
    response = locked_http.request(method, path, json={"model": "echo", "messages": user("hi")})
    error = assert_error(response, 401, code="invalid_api_key")
    assert "API key" in error["message"]
    # RFC 6750: a 401 names the scheme the client should use.
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header", ["Bearer", "Token secret", "Basic c2VjcmV0", "secret", "Bearer wrong", "Bearer secret2"]
)
def test_bad_authorization_header(locked_http: httpx.Client, header: str) -> None:
    response = locked_http.get("/v1/models", headers={"authorization": header})
    assert_error(response, 401, code="invalid_api_key")
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_key_through_client(locked_server: LiveServer) -> None:
    with OpenAI(base_url=locked_server.v1, api_key="wrong", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError) as caught:
            wrong.models.list()
        assert caught.value.status_code == 401
        with pytest.raises(openai.AuthenticationError):
            wrong.chat.completions.create(model="echo", messages=user("hi"))


def test_right_key(keyed_client: OpenAI, locked_http: httpx.Client) -> None:
    assert "echo" in {m.id for m in keyed_client.models.list()}
    completion = keyed_client.chat.completions.create(model="echo", messages=user("let me in"))
    assert completion.choices[0].message.content == "let me in"
    assert locked_http.get("/v1/models", headers=_bearer(API_KEY)).status_code == 200
    assert locked_http.get("/v1/models", headers={"Authorization": f"bearer {API_KEY}"}).status_code == 200


def test_key_checked_before_the_model(locked_http: httpx.Client) -> None:
    # An unauthenticated caller learns nothing about which models exist.
    response = locked_http.post(CHAT, json={"model": "gpt-nothing", "messages": user("hi")})
    assert_error(response, 401)


def test_health_open_without_key(locked_http: httpx.Client) -> None:
    response = locked_http.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_small_body_accepted(locked_http: httpx.Client) -> None:
    text = "word " * 1000
    response = locked_http.post(CHAT, json={"model": "echo", "messages": user(text)}, headers=_bearer(API_KEY))
    assert response.status_code == 200


def test_body_over_limit_with_content_length(locked_http: httpx.Client) -> None:
    body = {"model": "echo", "messages": user("x" * (SMALL_BODY_LIMIT + 1024))}
    response = locked_http.post(CHAT, json=body, headers=_bearer(API_KEY))
    assert "content-length" in response.request.headers
    error = assert_error(response, 413, code="request_too_large")
    assert str(SMALL_BODY_LIMIT) in error["message"]


def test_body_over_limit_chunked(locked_http: httpx.Client) -> None:
    piece = b"x" * 8192
    pieces = SMALL_BODY_LIMIT // len(piece) + 2

    def body() -> Iterator[bytes]:
        yield b'{"model": "echo", "messages": [{"role": "user", "content": "'
        for _ in range(pieces):
            yield piece
        yield b'"}]}'

    response = locked_http.post(CHAT, content=body(), headers={**_bearer(API_KEY), "content-type": "application/json"})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert_error(response, 413, code="request_too_large")


def test_chunked_body_under_limit(locked_http: httpx.Client) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"model": "echo", '
        yield b'"messages": [{"role": "user", "content": "in pieces"}]}'

    response = locked_http.post(CHAT, content=body(), headers={**_bearer(API_KEY), "content-type": "application/json"})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "in pieces"


def test_upload_over_limit(locked_http: httpx.Client) -> None:
    response = locked_http.post(
        "/v1/audio/transcriptions",
        data={"model": "audio-length"},
        files={"file": ("big.wav", b"\0" * (SMALL_BODY_LIMIT * 2))},
        headers=_bearer(API_KEY),
    )
    assert_error(response, 413)


def test_over_limit_through_client(keyed_client: OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        keyed_client.embeddings.create(model="hash-embed", input=["y" * 1024] * 100)
    assert caught.value.status_code == 413


def test_server_answers_after_refusals(keyed_client: OpenAI) -> None:
    assert keyed_client.embeddings.create(model="hash-embed", input="fine").data
