"""Graceful shutdown: on SIGTERM or Ctrl-C, stop accepting, let requests finish for a grace period, then end
what is still open, unload the models and exit 0."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from collections.abc import Callable, Coroutine, Generator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn

logger = logging.getLogger(__name__)

# uvicorn's own limit comes after ours, so that the streams we end have time to send their error event.
_UVICORN_MARGIN = 5.0


class Drain:
    """The shutdown's state: whether it has begun, an event set when its grace period is over, and the
    requests still open then, which it cancels."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.draining = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._expired: asyncio.Event | None = None
        # The tasks of the requests in flight. A set rather than a watcher task per request: a task made
        # and cancelled for every request was a measurable part of a small request's cost.
        self._open: set[asyncio.Task[Any]] = set()
        self._cut: set[asyncio.Task[Any]] = set()

    def bind(self) -> None:
        """Attach to the running event loop (at the server's start)."""
        self._loop = asyncio.get_running_loop()
        self._expired = asyncio.Event()

    @property
    def expired(self) -> asyncio.Event:
        if self._expired is None:
            # An app served without its lifespan (some test transports) never drains.
            self._expired = asyncio.Event()
        return self._expired

    def enter(self, task: asyncio.Task[Any]) -> None:
        """Track a request's task until `leave`; cancel it when the grace period is (or already was) over."""
        self._open.add(task)
        if self._expired is not None and self._expired.is_set():
            self._cut_short(task)

    def leave(self, task: asyncio.Task[Any]) -> bool:
        """Stop tracking `task`; whether the end of the grace period cancelled it."""
        self._open.discard(task)
        if task in self._cut:
            self._cut.discard(task)
            return True
        return False

    def _cut_short(self, task: asyncio.Task[Any]) -> None:
        if task not in self._cut:
            self._cut.add(task)
            task.cancel()

    def _expire(self) -> None:
        self.expired.set()
        for task in list(self._open):
            self._cut_short(task)

    def begin(self) -> None:
        """Start the grace period; safe to call from a signal handler or another thread, and more than once."""
        if self._loop is None or self.draining:
            return
        self.draining = True
        self._loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        logger.info("shutting down: requests in flight have %g s to finish", self.grace)
        assert self._loop is not None
        self._loop.call_later(self.grace, self._expire)


class GracefulServer(uvicorn.Server):
    """uvicorn, starting the drain's grace period at the first SIGTERM or SIGINT, and exiting 0 after it."""

    def __init__(
        self, config: uvicorn.Config, drain: Drain, started: Callable[[], Coroutine[Any, Any, None]] | None = None
    ) -> None:
        config.timeout_graceful_shutdown = int(drain.grace + _UVICORN_MARGIN)
        super().__init__(config)
        self.drain = drain
        self._started = started
        self._after_start: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up, then `started` in the background (it may wait for the models to load)."""
        await super().startup(sockets)
        if self._started is not None and not self.should_exit:
            self._after_start = asyncio.create_task(self._started(), name="modelport-after-start-up")

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.drain.begin()
        super().handle_exit(sig, frame)

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn re-raises the signal once it has shut down, which ends the process with 143 or 130; a
        # shutdown that finished cleanly exits 0 instead.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
