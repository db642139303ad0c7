"""What the client does while a request runs: it gives up (the work stops), it stalls sending its body
(408 and the connection closed), or it names a host the server does not answer to (421)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from modelport.config import Settings

from . import faulty_models
from .conftest import LiveServer, serve
from .helpers import assert_error, tone_wav, user

CHAT = "/v1/chat/completions"
BODY_TIMEOUT = 1.0
WAV_SECOND = tone_wav(1.0)


@pytest.fixture(scope="module")
def strict_server() -> Iterator[LiveServer]:
    """A server that gives a body one second, and a transcription half a second whatever its length."""
    settings = Settings(body_timeout=BODY_TIMEOUT, transcription_time_floor=0.5, transcription_time_per_second=0.0)
    with serve(settings) as live:
        yield live


def _give_up(server: LiveServer, path: str, **request: object) -> None:
    """Send a request and give up on it after half a second, as a client with a short timeout does."""
    with httpx.Client(base_url=server.url, timeout=0.5) as http, pytest.raises(httpx.ReadTimeout):
        http.post(path, **request)  # type: ignore[arg-type]


@pytest.mark.parametrize("model", ["slow-chat", "slow-async-chat"])
def test_a_client_that_gives_up_stops_a_non_streaming_chat(server: LiveServer, model: str) -> None:
    key = f"give up {uuid.uuid4().hex}"
    _give_up(server, CHAT, json={"model": model, "messages": user(key)})
    # The predictor has ~9 s of ticks left; only the cancellation closes it sooner.
    assert faulty_models.closed(key).wait(timeout=3), "the chat went on after its client left"


def test_a_client_that_gives_up_stops_a_transcription(server: LiveServer) -> None:
    key = f"give up {uuid.uuid4().hex}"
    files = {"file": ("a.wav", WAV_SECOND)}
    _give_up(server, "/v1/audio/transcriptions", data={"model": "slow-words", "prompt": key}, files=files)
    assert faulty_models.closed(key).wait(timeout=3), "the transcription went on after its client left"


def test_a_finished_request_is_not_cancelled(server: LiveServer) -> None:
    # The server reports a complete response's request as disconnected: that must not cut anything short.
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for _ in range(3):
            response = http.post(CHAT, json={"model": "echo", "messages": user("still here")})
            assert response.json()["choices"][0]["message"]["content"] == "still here"


def test_transcription_time_is_capped(strict_server: LiveServer) -> None:
    key = f"cap {uuid.uuid4().hex}"
    started = time.monotonic()
    with httpx.Client(base_url=strict_server.url, timeout=10) as http:
        response = http.post(
            "/v1/audio/transcriptions",
            data={"model": "slow-words", "prompt": key},
            files={"file": ("a.wav", WAV_SECOND)},
        )
    error = assert_error(response, 500, code="processing_timeout")
    assert "slow-words" in error["message"]
    assert time.monotonic() - started < 5
    assert faulty_models.closed(key).wait(timeout=3)


def _raw_request(server: LiveServer, head: bytes, body: bytes) -> socket.socket:
    address = urlsplit(server.url)
    sock = socket.create_connection((address.hostname or "", address.port or 80), timeout=10)
    sock.sendall(head + body)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("chunked", [False, True])
def test_a_stalled_body_is_answered_408_and_closed(strict_server: LiveServer, chunked: bool) -> None:
    framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: 1000\r\n"
    head = b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + framing + b"\r\n"
    part = b'{"model": "hash'
    body = f"{len(part):x}\r\n".encode() + part + b"\r\n" if chunked else part
    started = time.monotonic()
    with _raw_request(strict_server, head, body) as sock:
        data = _read_all(sock)  # ends only when the server closes the connection
    assert data.startswith(b"HTTP/1.1 408 "), data[:200]
    assert b'"code":"request_timeout"' in data.replace(b" ", b"")
    assert BODY_TIMEOUT <= time.monotonic() - started < BODY_TIMEOUT + 4


def test_a_slow_but_steady_body_within_the_time_is_read(strict_server: LiveServer) -> None:
    payload = b'{"model": "hash-embed", "input": "hello"}'
    head = (
        b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
    )
    with _raw_request(strict_server, head, payload[:10]) as sock:
        time.sleep(BODY_TIMEOUT / 3)
        sock.sendall(payload[10:])
        data = _read_all(sock)
    assert data.startswith(b"HTTP/1.1 200 "), data[:300]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "10.0.0.1"])
def test_a_foreign_host_is_refused(http: httpx.Client, host: str) -> None:
    # A DNS-rebinding page reaches 127.0.0.1 under its own name, and the browser sends that name as Host.
    error = assert_error(http.get("/v1/models", headers={"host": host}), 421, code="invalid_host")
    assert "allowed_hosts" in error["message"]
    assert_error(http.post(CHAT, headers={"host": host}, json={"model": "echo", "messages": user("hi")}), 421)


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8000", "127.0.0.1", "127.0.0.2:1", "[::1]:8000", "[::1]"])
def test_loopback_hosts_are_answered(http: httpx.Client, host: str) -> None:
    assert http.get("/v1/models", headers={"host": host}).status_code == 200
