"""What a request's client does while its handler runs: how long it takes to send the body, and whether it
is still there.

Streaming responses notice a client that goes away when they next write; a handler that computes a whole
answer first (a non-streaming chat, a transcription) would otherwise run to its end for nobody. Here the
handler is cancelled as soon as the client disconnects, and what it awaits cleans up as on any
cancellation: the chat engine frees the sequence's slot, a model stepping in a thread stops after its step.
"""

from __future__ import annotations

import asyncio
import contextlib

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelport.errors import RequestTimeoutError
from modelport.server.asgi import send_error


class ClientWatchMiddleware:
    """Cancels a request's handler when its client disconnects, and answers 408 (closing the connection)
    when the client has not sent the whole body within `body_timeout` seconds."""

    def __init__(self, app: ASGIApp, body_timeout: float) -> None:
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await _Request(receive, send, self.body_timeout).run(self.app, scope)


class _Request:
    """One request's watch. The app reads its body through `receive`; once the body is whole, one task
    alone reads the server's `receive`, and tells the app (and the handler's cancel scope) of a disconnect."""

    def __init__(self, receive: Receive, send: Send, body_timeout: float) -> None:
        self._receive = receive
        self._send = send
        self._deadline = anyio.current_time() + body_timeout
        self._body_timeout = body_timeout
        self._body_done = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._scope = anyio.CancelScope()
        self._started = False
        self._complete = False
        self._timed_out = False

    async def run(self, app: ASGIApp, scope: Scope) -> None:
        watcher = asyncio.create_task(self._watch())
        try:
            with self._scope:
                await app(scope, self.receive, self.send)
        finally:
            watcher.cancel()
        if self._timed_out and not self._started:
            seconds = f"{self._body_timeout:g}"
            error = RequestTimeoutError(f"The request body was not received within {seconds} seconds.")
            with contextlib.suppress(OSError):
                await send_error(self._send, error, scope["path"], close=True)

    async def receive(self) -> Message:
        if self._body_done.is_set():
            await self._disconnected.wait()
            return {"type": "http.disconnect"}
        with anyio.move_on_after(self._deadline - anyio.current_time()) as waiting:
            message = await self._receive()
        if waiting.cancelled_caught:
            self._timed_out = True
            self._scope.cancel()
            await anyio.sleep_forever()  # the cancellation just made ends the handler here
        if message["type"] == "http.disconnect":
            self._disconnected.set()
            self._scope.cancel()
        elif not message.get("more_body", False):
            self._body_done.set()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._started = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self._complete = True
        await self._send(message)

    async def _watch(self) -> None:
        await self._body_done.wait()
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self._disconnected.set()
        # After a complete response the server reports the request over as a disconnect: nothing to stop.
        if not self._complete:
            self._scope.cancel()
