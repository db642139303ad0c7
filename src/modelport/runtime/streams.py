"""Several async streams read as one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

T = TypeVar("T")


async def merge(streams: Sequence[AsyncIterator[T]]) -> AsyncIterator[T]:
    """The items of every stream as they arrive. A stream's error ends the merge with that error; a
    consumer that stops early cancels the streams still running."""
    if len(streams) == 1:
        # One stream needs no task and queue between it and its reader: a hop less for every item.
        only = streams[0]
        try:
            async for value in only:
                yield value
        finally:
            close = getattr(only, "aclose", None)
            if close is not None:
                await close()
        return
    queue: asyncio.Queue[tuple[T] | Exception | None] = asyncio.Queue()

    async def pump(stream: AsyncIterator[T]) -> None:
        try:
            async for item in stream:
                queue.put_nowait((item,))
        except Exception as exc:
            queue.put_nowait(exc)
        finally:
            queue.put_nowait(None)

    tasks = [asyncio.create_task(pump(stream)) for stream in streams]
    try:
        remaining = len(tasks)
        while remaining:
            item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                yield item[0]
    finally:
        for task in tasks:
            task.cancel()
