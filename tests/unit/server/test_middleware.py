"""The request layer (server.middleware) on plain ASGI: the request id it echoes and the access log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from modelport.metrics import Metrics
from modelport.runtime import Registry
from modelport.server import middleware
from modelport.server.middleware import RequestMiddleware
from modelport.server.shutdown import Drain

pytestmark = pytest.mark.anyio


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    # The app's own id is replaced by the request's, whatever its case.
    headers = [(b"content-type", b"application/json"), (b"X-Request-Id", b"the-app's")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


async def _request(layer: RequestMiddleware, headers: list[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    scope: Scope = {"type": "http", "method": "POST", "path": "/v1/embeddings", "headers": headers}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await layer(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    answered: dict[bytes, list[bytes]] = {}
    for key, value in sent[0]["headers"]:
        answered.setdefault(key.lower(), []).append(value)
    return answered


def _layer(access_log: bool = True) -> RequestMiddleware:
    return RequestMiddleware(_app, Metrics(Registry([])), Drain(grace=1), access_log=access_log)


async def test_the_last_plain_client_id_is_echoed_and_a_forged_one_replaced() -> None:
    given = [(b"host", b"x"), (b"x-request-id", b"first"), (b"x-request-id", b"trace-42")]
    assert (await _request(_layer(), given))[b"x-request-id"] == [b"trace-42"]
    made = (await _request(_layer(), [(b"x-request-id", b"a b")]))[b"x-request-id"]
    assert len(made) == 1
    assert len(made[0]) == 32
    assert (await _request(_layer(), []))[b"content-type"] == [b"application/json"]


async def test_the_access_log_line_is_built_only_when_info_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[dict[str, Any]] = []

    def info(message: str, *args: object, extra: dict[str, Any]) -> None:
        calls.append(extra)

    monkeypatch.setattr(middleware.logger, "info", info)
    with caplog.at_level(logging.WARNING, logger=middleware.logger.name):
        await _request(_layer(), [(b"x-request-id", b"quiet")])
    assert calls == []

    with caplog.at_level(logging.INFO, logger=middleware.logger.name):
        await _request(_layer(access_log=False), [(b"x-request-id", b"off")])
        assert calls == []
        await _request(_layer(), [(b"x-request-id", b"logged")])
    assert [(c["request_id"], c["status"], c["path"]) for c in calls] == [("logged", 200, "/v1/embeddings")]
