"""The drain: requests still open when the grace period ends are cancelled, and only those."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from modelport.metrics import Metrics
from modelport.runtime import Registry
from modelport.server.middleware import RequestMiddleware
from modelport.server.shutdown import Drain

pytestmark = pytest.mark.anyio


async def test_the_end_of_the_grace_cancels_the_open_requests_only() -> None:
    drain = Drain(grace=0.05)
    drain.bind()
    finished = asyncio.Event()

    async def request(seconds: float) -> str:
        this = asyncio.current_task()
        assert this is not None
        drain.enter(this)
        try:
            try:
                await asyncio.sleep(seconds)
            finally:
                cut = drain.leave(this)
        except asyncio.CancelledError:
            assert cut
            return "cut"
        finished.set()
        return "done"

    short = asyncio.create_task(request(0.0))
    long = asyncio.create_task(request(30.0))
    await finished.wait()
    drain.begin()
    assert await asyncio.wait_for(asyncio.gather(short, long), timeout=10) == ["done", "cut"]
    # A request that starts after the grace period is over is cut at its first wait.
    assert await asyncio.wait_for(request(30.0), timeout=10) == "cut"


async def test_a_request_left_before_the_end_is_not_tracked() -> None:
    drain = Drain(grace=0.0)
    drain.bind()
    this = asyncio.current_task()
    assert this is not None
    drain.enter(this)
    assert not drain.leave(this)
    drain.begin()
    await drain.expired.wait()
    await asyncio.sleep(0)  # a cancellation of this task would be raised here
    assert not this.cancelling()


async def test_the_middleware_answers_503_to_a_request_the_grace_cut_short() -> None:
    drain = Drain(grace=0.05)
    drain.bind()

    async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(30)

    middleware = RequestMiddleware(slow_app, Metrics(Registry([])), drain, access_log=False)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/v1/embeddings", "headers": []}
    call = asyncio.create_task(middleware(scope, receive, send))
    await asyncio.sleep(0.01)
    drain.begin()
    await asyncio.wait_for(call, timeout=10)
    assert sent[0]["status"] == 503
    assert json.loads(sent[1]["body"])["error"]["code"] == "server_shutting_down"
