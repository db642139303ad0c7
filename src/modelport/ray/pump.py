"""A sync generator model's items, made in one worker thread for the whole stream.

`LocalPredictor` steps a sync generator with one thread hop per item (about 0.3 ms on a small machine),
which is right in one process, where the server writes each item as it comes. In a replica the items
travel to the ingress in lists, and a model that yields its words in microseconds (a cached or short reply)
should fill the first list, not wait a hop between words: here one thread runs the generator, running ahead
of the consumer by at most `ahead` items, so a client that reads slowly still holds the model back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any

import anyio
import anyio.to_thread

from modelport.errors import ModelportError
from modelport.runtime.predictor import LocalPredictor

# How often a thread held back by a slow reader looks whether the stream was abandoned.
_POLL_SECONDS = 0.05


async def pumped(predictor: LocalPredictor, kwargs: dict[str, Any], ahead: int) -> AsyncGenerator[Any, None]:
    """Iterate the sync generator model of `predictor` called with `kwargs`; its failures become the
    predictor's `PredictorError`, its `ModelportError`s pass unchanged (as `LocalPredictor.stream` does)."""
    loop = asyncio.get_running_loop()
    made: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    room = threading.Semaphore(ahead)
    stop = threading.Event()
    function = predictor._function()

    def send(kind: str, value: Any) -> None:
        loop.call_soon_threadsafe(made.put_nowait, (kind, value))

    def run() -> None:
        iterator: Iterator[Any] | None = None
        try:
            iterator = iter(function(**kwargs))
            for item in iterator:
                while not room.acquire(timeout=_POLL_SECONDS):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                send("item", item)
            send("end", None)
        except BaseException as exc:  # handed to the consumer, which raises it
            send("error", exc)
        finally:
            close: Callable[[], None] | None = getattr(iterator, "close", None)
            if close is not None:
                close()

    worker = asyncio.ensure_future(anyio.to_thread.run_sync(run))
    try:
        while True:
            kind, value = await made.get()
            if kind == "end":
                return
            if kind == "error":
                if isinstance(value, ModelportError) or not isinstance(value, Exception):
                    raise value
                raise predictor._failure(value) from value
            room.release()
            yield value
    finally:
        # Abandoned (the ingress went away) or done: the thread ends after the step in flight and closes
        # the generator itself, on the thread that ran it.
        stop.set()
        with anyio.CancelScope(shield=True):
            await worker
