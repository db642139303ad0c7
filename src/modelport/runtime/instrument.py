"""A predictor that reports what its calls did (time to first token, tokens, batch sizes) to an observer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from modelport.predictor import EmbeddingSignature, ModelSpec, Task
from modelport.runtime.interface import Predictor


class CallObserver(Protocol):
    """Told what each call did (the metrics implement it)."""

    def chat_finished(self, model: str, first_token_seconds: float | None, tokens: int, seconds: float) -> None: ...

    def embedding_batch(self, model: str, size: int) -> None: ...


def _tokens(item: Any) -> int:
    """Tokens a streamed chat item carries: a text delta or a chunk whose choices have content."""
    if isinstance(item, str):
        return 1 if item else 0
    choices = getattr(item, "choices", None) or ()
    return sum(
        1 for choice in choices if getattr(choice.delta, "content", None) or getattr(choice.delta, "tool_calls", None)
    )


def _reported_tokens(item: Any) -> int | None:
    usage = getattr(item, "usage", None)
    return getattr(usage, "completion_tokens", None) if usage is not None else None


class InstrumentedPredictor:
    """Forwards everything to `inner`; measures chat streams and embedding batches on the way."""

    def __init__(self, inner: Predictor, observer: CallObserver) -> None:
        self.inner = inner
        self.spec: ModelSpec = inner.spec
        self._observer = observer

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def loaded(self) -> bool:
        return self.inner.loaded

    @property
    def batches_itself(self) -> bool:
        return self.inner.batches_itself

    async def load(self) -> None:
        await self.inner.load()

    async def unload(self) -> None:
        await self.inner.unload()

    def hook(self, name: str) -> Callable[..., Any] | None:
        return self.inner.hook(name)

    def attribute(self, name: str) -> Any:
        return self.inner.attribute(name)

    async def call(self, **kwargs: Any) -> Any:
        signature = self.spec.signature
        if isinstance(signature, EmbeddingSignature):
            texts = kwargs.get(signature.texts)
            if isinstance(texts, list):
                self._observer.embedding_batch(self.name, len(texts))
        return await self.inner.call(**kwargs)

    async def call_method(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.spec.task is Task.EMBEDDINGS and name == "embed_tokens" and args and isinstance(args[0], list):
            self._observer.embedding_batch(self.name, len(args[0]))
        return await self.inner.call_method(name, *args, **kwargs)

    def call_method_inline(self, name: str, *args: Any) -> Any:
        return self.inner.call_method_inline(name, *args)

    async def stream(self, **kwargs: Any) -> AsyncIterator[Any]:
        steps = self.inner.stream(**kwargs)
        started = time.monotonic()
        first: float | None = None
        counted = 0
        reported: int | None = None
        try:
            async for item in steps:
                if self.spec.task is Task.CHAT:
                    tokens = _tokens(item)
                    if tokens and first is None:
                        first = time.monotonic() - started
                    counted += tokens
                    reported = _reported_tokens(item) or reported
                yield item
        finally:
            # Close the inner stream now (stopping its model's work), not when it is garbage collected.
            close = getattr(steps, "aclose", None)
            if close is not None:
                await close()
            if self.spec.task is Task.CHAT:
                self._observer.chat_finished(self.name, first, reported or counted, time.monotonic() - started)
