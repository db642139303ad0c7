"""What a request's client does while its handler runs: how long it takes to send the body, and whether it
is still there.

Streaming responses notice a client that goes away when they next write; a handler that computes a whole
answer first (a non-streaming chat, a transcription) would otherwise run to its end for nobody. Here the
handler is cancelled soon after its client disconnects, and what it awaits cleans up as on any
cancellation: the chat engine frees the sequence's slot, a model stepping in a thread stops after its step.

No task or timer per request that a short request does not need: this runs on every
request, and on two cores the event loop's cost per request limits how many small requests a model that
batches them can take.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelport.errors import RequestTimeoutError
from modelport.server.asgi import send_error

# Seconds after its body before a request's client is watched: most requests have ended by then, and a
# watch costs a task; a client that leaves a longer one is noticed within this time. Not less: 64 clients of
# one-sentence embeddings wait ~0.26 s each for their batch on 2 cores, and watching the half of them that
# crossed 0.25 s cost the event loop ~5% more a request (0.45 against 0.43 ms, MiniLM driven in-process).
WATCH_AFTER = 1.0


@functools.cache
def _scope_type() -> type[anyio.CancelScope]:
    """The running backend's own `anyio.CancelScope` type. `anyio.CancelScope()` looks the backend up
    (sniffio) and initialises the scope twice on every call; a scope is made on every request, and the watch
    runs on asyncio only (it takes the running asyncio loop), so the type is looked up once."""
    return type(anyio.CancelScope())


class ClientWatchMiddleware:
    """Cancels a request's handler when its client disconnects, and answers 408 (closing the connection)
    when the client has not sent the whole body within `body_timeout` seconds."""

    def __init__(self, app: ASGIApp, body_timeout: float, watch_after: float = WATCH_AFTER) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.watch_after = watch_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await _Request(receive, send, self.body_timeout, self.watch_after).run(self.app, scope)


class _Request:
    """One request's watch. The app reads its body through `receive`, by a deadline; once the body is whole
    and `watch_after` has passed, one task alone reads the server's `receive`, and tells the app (and
    cancels the handler) when the client disconnects."""

    __slots__ = (
        "_body_done",
        "_body_timeout",
        "_complete",
        "_deadline",
        "_disconnected",
        "_left",
        "_loop",
        "_receive",
        "_scope",
        "_send",
        "_started",
        "_timed_out",
        "_timer",
        "_watch_after",
        "_watcher",
    )

    def __init__(self, receive: Receive, send: Send, body_timeout: float, watch_after: float) -> None:
        self._receive = receive
        self._send = send
        self._body_timeout = body_timeout
        self._watch_after = watch_after
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + body_timeout
        # anyio's, not a plain task cancellation: a model call in a worker thread waits in a shielded scope,
        # which defers the cancellation until the call has returned.
        self._scope = _scope_type()()
        # The body's deadline while the app reads it, then the start of the watch.
        self._timer: asyncio.TimerHandle | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._disconnected: asyncio.Future[None] | None = None
        self._left = False
        self._body_done = False
        self._started = False
        self._complete = False
        self._timed_out = False

    async def run(self, app: ASGIApp, scope: Scope) -> None:
        try:
            with self._scope:
                await app(scope, self.receive, self.send)
        finally:
            if self._timer is not None:
                self._timer.cancel()
            if self._watcher is not None:
                self._watcher.cancel()
        if self._timed_out and not self._started:
            seconds = f"{self._body_timeout:g}"
            error = RequestTimeoutError(f"The request body was not received within {seconds} seconds.")
            with contextlib.suppress(OSError):
                await send_error(self._send, error, scope["path"], close=True)

    async def receive(self) -> Message:
        if self._body_done:
            # What is left to receive is the disconnect.
            if self._left:
                return {"type": "http.disconnect"}
            if self._disconnected is None:
                self._disconnected = self._loop.create_future()
                self._watch(after_response=True)
            await self._disconnected
            return {"type": "http.disconnect"}
        if self._timer is None:
            # Only time spent reading the body counts against it: a handler that never reads it is not timed.
            self._timer = self._loop.call_at(self._deadline, self._time_out)
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self._stop()
        elif not message.get("more_body", False):
            self._body_done = True
            self._timer.cancel()
            self._timer = self._loop.call_later(self._watch_after, self._watch)
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._started = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self._complete = True
        await self._send(message)

    def _watch(self, after_response: bool = False) -> None:
        if self._watcher is None and (after_response or not self._complete):
            self._watcher = self._loop.create_task(self._read_to_disconnect())

    async def _read_to_disconnect(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self._left = True
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)
        # After a complete response the server reports the request over as a disconnect: nothing to stop.
        if not self._complete:
            self._stop()

    def _time_out(self) -> None:
        self._timed_out = True
        self._stop()

    def _stop(self) -> None:
        self._scope.cancel()
