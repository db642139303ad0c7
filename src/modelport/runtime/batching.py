"""Dynamic batching: requests that arrive close together share one predictor call.

A `Batcher` owns one worker task per model. Callers `submit` their items (texts, token-id lists) with a
key that says which calls may be merged (the same options, such as `dimensions`). The worker runs the
waiting items as one batch as soon as `max_batch_size` of them wait, or no other request is on its way (the
event loop went round IDLE_PASSES times without a new one: requests already received have all been
submitted), or `window` seconds after the oldest waiting request arrived (while another batch computes,
BUSY_WINDOWS windows after the gathering began), whichever comes first; and hands
each caller exactly its own rows back, in order. So a lone request never waits for company that is not
coming, and a burst of requests that arrived together is one batch. A request larger than
`max_batch_size` is cut into pieces of that size, so no call ever holds more than one batch in memory.

A model that computes several batches at once to use the machine (one per worker thread, say) gets up to
`concurrency` batches in flight: the next one is gathered while the others run, so no core idles while a
small batch runs on one of them.

A batch that fails fails exactly the callers that were in it; the worker goes on with the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# Runs one batch: the items of one or more requests, all submitted with `key`; returns one row per item.
RunBatch = Callable[[list[Any], Hashable], Awaitable[np.ndarray]]

# Event loop passes without a new request after which a batch stops waiting. A request whose bytes have
# arrived reaches `submit` within two passes (the transport reads it, then its task runs through to the
# batcher without waiting on anything), so three quiet passes mean none is on its way.
IDLE_PASSES = 3
# How long, in windows, a batch may keep gathering while requests keep arriving and another batch computes.
# The machine is busy then, so waiting idles no core, and a fuller batch costs the model less a row; and the
# window counts from the gathering, not from the oldest request, which waited for the slot already. Measured
# with 16 one-sentence clients of MiniLM on 2 cores: batches of 5.4 rows on average with the plain window,
# 7.1 with this, as their clients come back over the ~10 ms the event loop takes to answer and read them.
BUSY_WINDOWS = 10


@dataclass
class _Piece:
    """Up to `max_batch_size` consecutive items of one request, with the future that receives their rows."""

    items: list[Any]
    key: Hashable
    arrived: float
    future: asyncio.Future[np.ndarray] = field(repr=False)


class BatcherClosedError(RuntimeError):
    """The batcher was closed while a request waited in it."""


class Batcher:
    """Merges concurrent requests with the same key into batches of at most `max_batch_size` items.

    With `merge=False` every request runs alone (still cut into pieces of `max_batch_size`), one at a
    time: the behaviour of a server without batching, kept for comparison. Otherwise up to `concurrency`
    batches run at once.
    """

    def __init__(
        self, run: RunBatch, *, max_batch_size: int, window: float, merge: bool = True, concurrency: int = 1
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if window < 0:
            raise ValueError(f"window must not be negative, got {window}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._run = run
        self.max_batch_size = max_batch_size
        self.window = window
        self.merge = merge
        self.concurrency = concurrency if merge else 1
        self._queue: deque[_Piece] = deque()
        self._arrivals = 0
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._slot_free = asyncio.Event()
        self._closed = False

    async def submit(self, items: Sequence[Any], key: Hashable = None) -> np.ndarray:
        """The rows for `items`, in order, computed in batches shared with other callers of the same key."""
        if not items:
            raise ValueError("submit needs at least one item")
        if self._closed:
            raise BatcherClosedError("the batcher is closed")
        loop = asyncio.get_running_loop()
        now = loop.time()
        size = self.max_batch_size
        pieces = [
            _Piece(list(items[start : start + size]), key, now, loop.create_future())
            for start in range(0, len(items), size)
        ]
        self._queue.extend(pieces)
        self._arrivals += 1
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="modelport-batcher")
        if len(pieces) == 1:
            return await pieces[0].future
        # return_exceptions: every piece's outcome is retrieved, so no future's exception goes unobserved.
        results = await asyncio.gather(*(piece.future for piece in pieces), return_exceptions=True)
        rows: list[np.ndarray] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            rows.append(result)
        return rows[0] if len(rows) == 1 else np.concatenate(rows)

    async def aclose(self) -> None:
        """Stop the worker; requests still waiting fail with `BatcherClosedError`."""
        self._closed = True
        for task in [*([self._worker] if self._worker is not None else []), *self._running]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail(list(self._queue), BatcherClosedError("the server is shutting down"))
        self._queue.clear()

    @staticmethod
    def _fail(batch: list[_Piece], exc: BaseException) -> None:
        for piece in batch:
            if not piece.future.done():
                piece.future.set_exception(exc)

    def _waiting_items(self, key: Hashable) -> int:
        return sum(len(piece.items) for piece in self._queue if piece.key == key and not piece.future.done())

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._drop_cancelled()
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            if len(self._running) >= self.concurrency:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            oldest = self._queue[0]
            if self.merge:
                await self._gather(oldest, loop)
            batch = self._take()
            if not batch:
                continue
            if self.concurrency == 1:
                await self._run_batch(batch)
            else:
                task = asyncio.create_task(self._run_batch(batch), name="modelport-batch")
                self._running.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slot_free.set()

    async def _gather(self, oldest: _Piece, loop: asyncio.AbstractEventLoop) -> None:
        """Wait for requests to join the oldest one's batch while more are coming: up to its window, or while
        another batch computes, up to BUSY_WINDOWS windows from now (see there)."""
        deadline = oldest.arrived + self.window
        busy_deadline = max(deadline, loop.time() + BUSY_WINDOWS * self.window)
        quiet = 0
        while (
            quiet < IDLE_PASSES
            and self._waiting_items(oldest.key) < self.max_batch_size
            and loop.time() < (busy_deadline if self._running else deadline)
        ):
            seen = self._arrivals
            # One pass of the event loop: whatever is ready runs, and sockets with data are read.
            await asyncio.sleep(0)
            quiet = quiet + 1 if self._arrivals == seen else 0

    def _drop_cancelled(self) -> None:
        # A caller that went away (a client disconnect) cancels its futures; its items are not computed.
        if any(piece.future.done() for piece in self._queue):
            self._queue = deque(piece for piece in self._queue if not piece.future.done())

    def _take(self) -> list[_Piece]:
        """The oldest piece and, when merging, the next ones with its key while the batch has room."""
        self._drop_cancelled()
        if not self._queue:
            return []
        first = self._queue.popleft()
        batch = [first]
        if not self.merge:
            return batch
        room = self.max_batch_size - len(first.items)
        kept: deque[_Piece] = deque()
        while self._queue:
            piece = self._queue.popleft()
            if room > 0 and piece.key == first.key and len(piece.items) <= room:
                batch.append(piece)
                room -= len(piece.items)
            else:
                kept.append(piece)
        self._queue = kept
        return batch

    async def _run_batch(self, batch: list[_Piece]) -> None:
        items = [item for piece in batch for item in piece.items]
        logger.debug("batch of %d items from %d pieces", len(items), len(batch))
        try:
            rows = await self._run(items, batch[0].key)
            if len(rows) != len(items):
                raise RuntimeError(f"a batch of {len(items)} items returned {len(rows)} rows")
        except asyncio.CancelledError:
            # The batcher is closing: the callers of the batch in flight get an answer too.
            self._fail(batch, BatcherClosedError("the server is shutting down"))
            raise
        except Exception as exc:
            self._fail(batch, exc)
            return
        start = 0
        for piece in batch:
            end = start + len(piece.items)
            if not piece.future.done():
                piece.future.set_result(rows[start:end])
            start = end
