"""A served model: one loaded instance of a spec, called off the event loop or awaited.

Every exception a predictor raises becomes a `PredictorError` naming the model, so one bad model cannot
take the server down; a `ModelportError` it raises on purpose (say, an `InvalidRequestError` for an input
it cannot handle) passes through unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import anyio.to_thread

from modelport.errors import ModelportError, PredictorError
from modelport.predictor import ModelSpec

logger = logging.getLogger(__name__)

_EXHAUSTED = object()


class LocalPredictor:
    """Serves a spec in this process: creates a class instance and runs its load/unload hooks."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        has_lifecycle = spec.is_class or spec.is_instance
        self._callable: Callable[..., Any] | None = None if has_lifecycle else spec.target
        self._instance: Any = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def loaded(self) -> bool:
        return self._callable is not None

    @property
    def batches_itself(self) -> bool:
        """In process, the server's batcher merges the calls."""
        return False

    async def load(self) -> None:
        """Create the instance of a model class, run its `load()`; functions need nothing."""
        if self.loaded:
            return
        if self.spec.is_instance:
            instance = self.spec.target
        else:
            instance = await anyio.to_thread.run_sync(self.spec.target)
        await _run_hook(instance, "load")
        self._instance = instance
        self._callable = instance

    async def unload(self) -> None:
        if self._instance is not None:
            instance, self._instance, self._callable = self._instance, None, None
            await _run_hook(instance, "unload")
            del instance
            if gc.get_freeze_count():
                # `modelport serve` froze what start-up made (server/collector.py), a model loaded then
                # included, and the collector never frees a frozen cycle: thaw, collect, freeze again.
                gc.unfreeze()
                gc.collect()
                gc.freeze()

    def hook(self, name: str) -> Callable[..., Any] | None:
        """An optional method of the loaded model object, such as `complete`; None for plain functions."""
        method = getattr(self._instance, name, None) if self._instance is not None else None
        return method if callable(method) else None

    def _function(self) -> Callable[..., Any]:
        if self._callable is None:
            raise PredictorError(f"The model `{self.name}` is not loaded.")
        return self._callable

    def _failure(self, exc: Exception) -> PredictorError:
        logger.exception("model %s failed", self.name, exc_info=exc)
        return PredictorError(f"The model `{self.name}` failed: {type(exc).__name__}: {exc}")

    def attribute(self, name: str) -> Any:
        """An optional hook or setting the loaded model defines (say, `count_tokens`), or None.

        Looked up on the loaded instance of a class, or on the function itself.
        """
        return getattr(self._function(), name, None)

    async def call(self, **kwargs: Any) -> Any:
        """Call a one-shot predictor (embeddings, speech, transcription, image) and return its result."""
        return await self._invoke(self._function(), self.spec.is_async, kwargs)

    async def call_method(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the model's optional method `name` (sync in a thread, or awaited); errors as for `call`."""
        method = self.attribute(name)
        if not callable(method):
            raise PredictorError(f"The model `{self.name}` has no method '{name}'.")
        return await self._invoke(functools.partial(method, *args), inspect.iscoroutinefunction(method), kwargs)

    def call_method_inline(self, name: str, *args: Any) -> Any:
        """Call the model's quick sync method `name` on the calling thread, saving a thread hop for
        work that takes microseconds (say, counting the tokens of one sentence); errors as for `call`."""
        method = self.attribute(name)
        if not callable(method) or inspect.iscoroutinefunction(method):
            raise PredictorError(f"The model `{self.name}` has no sync method '{name}'.")
        try:
            return method(*args)
        except ModelportError:
            raise
        except Exception as exc:
            raise self._failure(exc) from exc

    async def _invoke(self, function: Callable[..., Any], is_async: bool, kwargs: dict[str, Any]) -> Any:
        try:
            if is_async:
                return await function(**kwargs)
            return await anyio.to_thread.run_sync(functools.partial(function, **kwargs))
        except ModelportError:
            raise
        except Exception as exc:
            raise self._failure(exc) from exc

    async def stream(self, **kwargs: Any) -> AsyncIterator[Any]:
        """Iterate a streaming predictor (chat); the iterator is closed as soon as the consumer stops."""
        function = self._function()
        steps = self._stream_async(function, kwargs) if self.spec.is_async else self._stream_sync(function, kwargs)
        # Close the inner generator now, not whenever the garbage collector finalizes it.
        async with contextlib.aclosing(steps):
            async for item in steps:
                yield item

    async def _stream_async(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> AsyncGenerator[Any, None]:
        try:
            result = function(**kwargs)
            if inspect.isawaitable(result):
                result = await result
            iterator = aiter(result)
        except ModelportError:
            raise
        except Exception as exc:
            raise self._failure(exc) from exc
        try:
            while True:
                try:
                    item = await anext(iterator)
                except StopAsyncIteration:
                    return
                except ModelportError:
                    raise
                except Exception as exc:
                    raise self._failure(exc) from exc
                yield item
        finally:
            close = getattr(iterator, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()

    async def _stream_sync(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> AsyncGenerator[Any, None]:
        def start() -> Iterator[Any]:
            return iter(function(**kwargs))

        try:
            iterator = await anyio.to_thread.run_sync(start)
        except ModelportError:
            raise
        except Exception as exc:
            raise self._failure(exc) from exc
        try:
            while True:
                try:
                    # A cancelled consumer waits for the step in flight to end; then `finally` closes.
                    item = await anyio.to_thread.run_sync(next, iterator, _EXHAUSTED)
                except ModelportError:
                    raise
                except Exception as exc:
                    raise self._failure(exc) from exc
                if item is _EXHAUSTED:
                    return
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(close)


async def _run_hook(instance: Any, hook: str) -> None:
    method = getattr(instance, hook, None)
    if method is None:
        return
    if inspect.iscoroutinefunction(method):
        await method()
    else:
        await anyio.to_thread.run_sync(method)
