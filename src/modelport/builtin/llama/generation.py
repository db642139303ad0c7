"""A request to the llama.cpp scheduler as its caller sees it: a `Generation` to iterate for `Event`s."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
from llama_cpp import _internals as internals

from modelport.builtin.llama.sampling import SamplingParams


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    bytes: list[int]
    logprob: float
    top: list[tuple[str, list[int], float]]


@dataclass(frozen=True)
class Event:
    """New text for one request; the last event of a request carries its finish reason. Every event has
    the request's token counts so far, so a consumer that ends a request early knows its usage."""

    text: str
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Prompt tokens whose cache entries were reused from an earlier request instead of decoded.
    cached_tokens: int = 0
    stop: str | None = None
    """The stop string that ended the text, when one did."""


# What the scheduler sends a request it drops because it was cancelled: its events end there. Without it a
# caller that cancels and reads on (to the end of a stream it shares with others) would wait forever.
CANCELLED = Event("", finish_reason="cancelled")


class Generation:
    """A submitted request: iterate it for events; `cancel()` frees its slot at the next step, and its
    events end there (or at its last event, if that came first)."""

    def __init__(self, prompt: list[int], params: SamplingParams, loop: asyncio.AbstractEventLoop) -> None:
        self.prompt = prompt
        self.params = params
        self.loop = loop
        self._queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        self.cancelled = threading.Event()
        # The request's own llama.cpp sampler chain, or, for plain sampling, its random generator: made at
        # submission, so nothing about the request can fail once it holds a slot.
        self.sampler: internals.LlamaSampler | None = None
        self.rng: np.random.Generator | None = None
        self.cached_tokens = 0

    def close(self) -> None:
        """Free the sampler chain; the scheduler calls it when the request leaves (or never gets) a slot."""
        if self.sampler is not None:
            self.sampler.close()
            self.sampler = None

    def cancel(self) -> None:
        self.cancelled.set()

    def deliver(self, item: Event | BaseException) -> None:
        """Called on the generation's event loop."""
        self._queue.put_nowait(item)

    async def events(self) -> AsyncIterator[Event]:
        try:
            while True:
                item = await self._queue.get()
                if item is CANCELLED:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            self.cancel()


def deliver(items: list[tuple[Generation, Event | BaseException]]) -> None:
    """Hand a step's items to their generations; runs on their event loop."""
    for generation, item in items:
        generation.deliver(item)
