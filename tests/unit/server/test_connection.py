"""The client watch (server.connection) on plain ASGI: what it cancels, when, and what it leaves alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelport.server import connection
from modelport.server.connection import ClientWatchMiddleware

pytestmark = pytest.mark.anyio

SCOPE: Scope = {"type": "http", "method": "POST", "path": "/v1/embeddings", "headers": []}


class Client:
    """The server's side of one request: the body in `parts` (a pause of `None` stalls forever), then a
    disconnect after `leaves_after` seconds of waiting."""

    def __init__(self, parts: list[bytes | None], leaves_after: float = 60.0) -> None:
        self.parts = parts
        self.leaves_after = leaves_after
        self.sent: list[Message] = []
        self.reads = 0

    async def receive(self) -> Message:
        self.reads += 1
        if self.parts:
            part = self.parts.pop(0)
            if part is None:
                await asyncio.sleep(3600)
            return {"type": "http.request", "body": part, "more_body": bool(self.parts)}
        await asyncio.sleep(self.leaves_after)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)


async def _answer(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


def _long_handler(outcome: list[str], call_first: Callable[[], str] | None = None) -> ASGIApp:
    """An app that reads the body, runs `call_first` in a worker thread if given, then works for ten seconds;
    `outcome` records the call's result and whether the handler finished or was cancelled."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        try:
            if call_first is not None:
                outcome.append(await anyio.to_thread.run_sync(call_first))
            await asyncio.sleep(10)
            outcome.append("finished")
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    return app


async def test_a_client_that_leaves_cancels_the_handler_soon_after() -> None:
    outcome: list[str] = []
    client = Client([b"{}"], leaves_after=0.05)
    started = time.monotonic()
    watch = ClientWatchMiddleware(_long_handler(outcome), body_timeout=5, watch_after=0.05)
    await watch(SCOPE, client.receive, client.send)
    assert outcome == ["cancelled"]
    assert time.monotonic() - started < 2


async def test_a_quick_request_is_answered_without_reading_on() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await _answer(send)

    client = Client([b"{}"], leaves_after=0.0)
    await ClientWatchMiddleware(app, body_timeout=5, watch_after=0.5)(SCOPE, client.receive, client.send)
    # The body only: nothing read the disconnect, which is what a watch would have cost.
    assert client.reads == 1
    assert [m["type"] for m in client.sent] == ["http.response.start", "http.response.body"]


async def test_a_stalled_body_is_answered_408() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await _answer(send)

    client = Client([b'{"a"', None])
    await ClientWatchMiddleware(app, body_timeout=0.05)(SCOPE, client.receive, client.send)
    assert client.sent[0]["status"] == 408
    assert (b"connection", b"close") in client.sent[0]["headers"]


async def test_only_reading_the_body_is_timed() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.2)  # longer than the body may take, without reading it
        await _answer(send)

    client = Client([b"{}"])
    await ClientWatchMiddleware(app, body_timeout=0.05)(SCOPE, client.receive, client.send)
    assert client.sent[0]["status"] == 200


async def test_the_app_reading_after_its_body_gets_the_disconnect() -> None:
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        messages.append(await receive())
        await _answer(send)
        messages.append(await receive())

    client = Client([b"{}"], leaves_after=0.01)
    await asyncio.wait_for(ClientWatchMiddleware(app, body_timeout=5)(SCOPE, client.receive, client.send), 5)
    assert [m["type"] for m in messages] == ["http.request", "http.disconnect"]


async def test_a_cancellation_from_elsewhere_goes_through() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await asyncio.sleep(10)

    client = Client([b"{}"])
    task = asyncio.create_task(ClientWatchMiddleware(app, body_timeout=5)(SCOPE, client.receive, client.send))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_handler_cancelled_for_a_client_gone_still_reads_the_disconnect() -> None:
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        try:
            await asyncio.sleep(10)
        finally:
            messages.append(await receive())

    client = Client([b"{}"], leaves_after=0.01)
    watch = ClientWatchMiddleware(app, body_timeout=5, watch_after=0.01)
    await asyncio.wait_for(watch(SCOPE, client.receive, client.send), 5)
    assert [m["type"] for m in messages] == ["http.disconnect"]


async def test_a_model_call_in_a_thread_ends_before_the_cancellation_lands() -> None:
    outcome: list[str] = []

    def step() -> str:
        time.sleep(0.3)
        return "stepped"

    client = Client([b"{}"], leaves_after=0.05)
    watch = ClientWatchMiddleware(_long_handler(outcome, step), body_timeout=5, watch_after=0.01)
    await watch(SCOPE, client.receive, client.send)
    # The worker thread's call is shielded: the client's leaving cancels what comes after it, not the call.
    assert outcome == ["stepped", "cancelled"]


async def test_the_cancel_scope_type_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []
    original = anyio.CancelScope

    def counted(**options: Any) -> anyio.CancelScope:
        made.append(None)
        return original(**options)

    connection._scope_type.cache_clear()
    monkeypatch.setattr(anyio, "CancelScope", counted)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await _answer(send)

    middleware = ClientWatchMiddleware(app, body_timeout=5)
    for _ in range(3):
        client = Client([b"{}"])
        await middleware(SCOPE, client.receive, client.send)
        assert [m["type"] for m in client.sent] == ["http.response.start", "http.response.body"]
    # Once for the backend's scope type, not once a request.
    assert len(made) == 1
