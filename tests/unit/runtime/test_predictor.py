"""Calling, streaming, loading and closing predictors (modelport.runtime.predictor)."""

import gc
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import numpy as np
import pytest

from modelport import InvalidRequestError, Message, Parameter
from modelport.errors import ModelportError, PredictorError
from modelport.predictor import build_spec
from modelport.runtime import LocalPredictor as Predictor

pytestmark = pytest.mark.anyio

Embedding = Annotated[np.ndarray, Parameter.Embedding()]
MESSAGES: list[Message] = [{"role": "user", "content": "hello there"}]
# Upper bound for a finalizer that runs on a later loop turn; the wait ends as soon as it has run.
FINALIZER_TIMEOUT = 5.0


def predictor(target: Any, name: str = "m") -> Predictor:
    return Predictor(build_spec(target, name=name))


async def collect(stream: AsyncIterator[Any], into: list[Any] | None = None) -> list[Any]:
    """Every item of `stream`, appended to `into` as they come so a test can see them after a failure."""
    items = [] if into is None else into
    async for item in stream:
        items.append(item)
    return items


async def wait_for(event: threading.Event) -> bool:
    """Wait for `event` in a worker thread, so the event loop stays free to run pending finalizers."""
    return await anyio.to_thread.run_sync(event.wait, FINALIZER_TIMEOUT)


# Calls


async def test_sync_call_runs_off_the_event_loop() -> None:
    threads: list[int] = []

    def embed(texts: list[str], scale: float = 1.0) -> Embedding:
        threads.append(threading.get_ident())
        return np.full((len(texts), 2), scale, dtype=np.float32)

    result = await predictor(embed).call(texts=["a", "b"], scale=2.0)
    assert result.tolist() == [[2.0, 2.0], [2.0, 2.0]]
    assert threads
    assert threads[0] != threading.get_ident()


async def test_async_call() -> None:
    async def embed(texts: list[str]) -> Embedding:
        await anyio.lowlevel.checkpoint()
        return np.ones((len(texts), 3), dtype=np.float32)

    p = predictor(embed)
    assert p.spec.is_async
    assert (await p.call(texts=["a"])).shape == (1, 3)


async def test_functions_are_loaded_from_the_start() -> None:
    def embed(texts: list[str]) -> Embedding:
        return np.ones((len(texts), 2), dtype=np.float32)

    p = predictor(embed, "ones")
    assert p.loaded
    assert p.name == "ones"
    await p.load()
    await p.unload()
    assert p.loaded, "unloading a function model keeps it callable"


# Streams


async def test_sync_stream() -> None:
    def chat(messages: list[Message], times: int = 1) -> Iterator[str]:
        for _ in range(times):
            yield from str(messages[-1]["content"]).split()

    assert await collect(predictor(chat).stream(messages=MESSAGES, times=2)) == ["hello", "there"] * 2


async def test_async_stream() -> None:
    async def chat(messages: list[Message]) -> AsyncIterator[str]:
        for word in str(messages[-1]["content"]).split():
            await anyio.lowlevel.checkpoint()
            yield word

    p = predictor(chat)
    assert p.spec.is_async
    assert await collect(p.stream(messages=MESSAGES)) == ["hello", "there"]


async def test_sync_function_returning_an_iterator() -> None:
    def chat(messages: list[Message]) -> Iterator[str]:
        return iter(["a", "b"])

    assert await collect(predictor(chat).stream(messages=MESSAGES)) == ["a", "b"]


async def test_async_function_returning_an_async_iterator() -> None:
    async def words() -> AsyncIterator[str]:
        yield "a"
        yield "b"

    async def chat(messages: list[Message]) -> AsyncIterator[str]:
        return words()

    assert await collect(predictor(chat).stream(messages=MESSAGES)) == ["a", "b"]


async def test_empty_stream() -> None:
    def chat(messages: list[Message]) -> Iterator[str]:
        yield from ()

    assert await collect(predictor(chat).stream(messages=MESSAGES)) == []


# Errors


def assert_names_model(error: PredictorError, model: str, cause: BaseException) -> None:
    assert f"`{model}`" in error.message
    assert type(cause).__name__ in error.message
    assert str(cause) in error.message
    assert error.__cause__ is cause
    assert error.status_code == 500
    assert error.code == "predictor_error"


async def test_sync_call_failure() -> None:
    boom = RuntimeError("out of memory")

    def embed(texts: list[str]) -> Embedding:
        raise boom

    with pytest.raises(PredictorError) as excinfo:
        await predictor(embed, "bad-embed").call(texts=["a"])
    assert_names_model(excinfo.value, "bad-embed", boom)


async def test_async_call_failure() -> None:
    boom = ValueError("bad input")

    async def embed(texts: list[str]) -> Embedding:
        raise boom

    with pytest.raises(PredictorError) as excinfo:
        await predictor(embed, "bad-embed").call(texts=["a"])
    assert_names_model(excinfo.value, "bad-embed", boom)


async def test_sync_stream_failure_midway() -> None:
    boom = KeyError("token")
    seen: list[str] = []

    def chat(messages: list[Message]) -> Iterator[str]:
        yield "first"
        raise boom

    with pytest.raises(PredictorError) as excinfo:
        await collect(predictor(chat, "bad-chat").stream(messages=MESSAGES), seen)
    assert seen == ["first"]
    assert_names_model(excinfo.value, "bad-chat", boom)


async def test_sync_stream_failure_at_the_start() -> None:
    boom = RuntimeError("cannot start")

    def chat(messages: list[Message]) -> Iterator[str]:
        raise boom

    with pytest.raises(PredictorError) as excinfo:
        await collect(predictor(chat, "bad-chat").stream(messages=MESSAGES))
    assert_names_model(excinfo.value, "bad-chat", boom)


async def test_async_stream_failure_midway() -> None:
    boom = RuntimeError("lost the engine")
    seen: list[str] = []

    async def chat(messages: list[Message]) -> AsyncIterator[str]:
        yield "first"
        raise boom

    with pytest.raises(PredictorError) as excinfo:
        await collect(predictor(chat, "bad-chat").stream(messages=MESSAGES), seen)
    assert seen == ["first"]
    assert_names_model(excinfo.value, "bad-chat", boom)


async def test_async_stream_failure_at_the_start() -> None:
    boom = RuntimeError("cannot start")

    async def chat(messages: list[Message]) -> AsyncIterator[str]:
        raise boom

    with pytest.raises(PredictorError) as excinfo:
        await collect(predictor(chat, "bad-chat").stream(messages=MESSAGES))
    assert_names_model(excinfo.value, "bad-chat", boom)


REFUSAL = InvalidRequestError("This model only speaks English.", param="input")


async def test_modelport_error_passes_through_a_sync_call() -> None:
    def embed(texts: list[str]) -> Embedding:
        raise REFUSAL

    with pytest.raises(InvalidRequestError) as excinfo:
        await predictor(embed).call(texts=["a"])
    assert excinfo.value is REFUSAL


async def test_modelport_error_passes_through_an_async_call() -> None:
    async def embed(texts: list[str]) -> Embedding:
        raise REFUSAL

    with pytest.raises(InvalidRequestError) as excinfo:
        await predictor(embed).call(texts=["a"])
    assert excinfo.value is REFUSAL


async def test_modelport_error_passes_through_a_sync_stream() -> None:
    def chat(messages: list[Message]) -> Iterator[str]:
        yield "a"
        raise REFUSAL

    with pytest.raises(InvalidRequestError) as excinfo:
        await collect(predictor(chat).stream(messages=MESSAGES))
    assert excinfo.value is REFUSAL


async def test_modelport_error_passes_through_an_async_stream() -> None:
    async def chat(messages: list[Message]) -> AsyncIterator[str]:
        raise REFUSAL
        yield ""

    with pytest.raises(InvalidRequestError) as excinfo:
        await collect(predictor(chat).stream(messages=MESSAGES))
    assert excinfo.value is REFUSAL


async def test_a_predictor_error_raised_on_purpose_is_kept() -> None:
    own = PredictorError("custom", code="engine_down")

    def embed(texts: list[str]) -> Embedding:
        raise own

    with pytest.raises(ModelportError) as excinfo:
        await predictor(embed).call(texts=["a"])
    assert excinfo.value is own


# Class models and their lifecycle


async def test_class_model_lifecycle() -> None:
    events: list[str] = []

    class Embedder:
        def __init__(self) -> None:
            events.append("init")
            self.scale = 0.0

        def load(self) -> None:
            events.append("load")
            self.scale = 3.0

        def unload(self) -> None:
            events.append("unload")

        def __call__(self, texts: list[str]) -> Embedding:
            return np.full((len(texts), 2), self.scale, dtype=np.float32)

    p = predictor(Embedder)
    assert not p.loaded
    assert events == []
    await p.load()
    await p.load()
    assert p.loaded
    assert events == ["init", "load"]
    assert (await p.call(texts=["a"])).tolist() == [[3.0, 3.0]]
    await p.unload()
    assert not p.loaded
    assert events == ["init", "load", "unload"]
    await p.unload()
    assert events == ["init", "load", "unload"]


async def test_instance_model_lifecycle() -> None:
    events: list[str] = []

    class Embedder:
        def __init__(self, scale: float) -> None:
            self.scale = scale

        def load(self) -> None:
            events.append("load")

        def unload(self) -> None:
            events.append("unload")

        def __call__(self, texts: list[str]) -> Embedding:
            return np.full((len(texts), 2), self.scale, dtype=np.float32)

    p = Predictor(build_spec(Embedder(5.0), name="scaled"))
    assert not p.loaded
    await p.load()
    assert events == ["load"]
    assert (await p.call(texts=["a"])).tolist() == [[5.0, 5.0]]
    await p.unload()
    assert events == ["load", "unload"]
    assert not p.loaded


async def test_class_model_with_async_hooks_and_call() -> None:
    events: list[str] = []

    class Chat:
        async def load(self) -> None:
            await anyio.lowlevel.checkpoint()
            events.append("load")

        async def unload(self) -> None:
            await anyio.lowlevel.checkpoint()
            events.append("unload")

        async def __call__(self, messages: list[Message]) -> AsyncIterator[str]:
            yield "hi"

    p = predictor(Chat)
    await p.load()
    await p.load()
    assert events == ["load"]
    assert await collect(p.stream(messages=MESSAGES)) == ["hi"]
    await p.unload()
    assert events == ["load", "unload"]


async def test_class_model_without_hooks() -> None:
    class Embedder:
        def __call__(self, texts: list[str]) -> Embedding:
            return np.ones((len(texts), 2), dtype=np.float32)

    p = predictor(Embedder)
    await p.load()
    assert p.loaded
    assert (await p.call(texts=["a", "b"])).shape == (2, 2)


async def test_class_model_called_before_load() -> None:
    class Embedder:
        def __call__(self, texts: list[str]) -> Embedding:
            return np.ones((len(texts), 2), dtype=np.float32)

    p = predictor(Embedder, "lazy")
    with pytest.raises(PredictorError, match="The model `lazy` is not loaded"):
        await p.call(texts=["a"])


async def test_class_model_reloads_after_unload() -> None:
    created: list[object] = []

    class Embedder:
        def __init__(self) -> None:
            created.append(self)

        def __call__(self, texts: list[str]) -> Embedding:
            return np.ones((len(texts), 2), dtype=np.float32)

    p = predictor(Embedder)
    await p.load()
    await p.unload()
    await p.load()
    assert len(created) == 2
    assert p.loaded


async def test_an_unloaded_model_frozen_at_start_up_is_collected() -> None:
    class Embedder:
        def __init__(self) -> None:
            self.itself = self  # a reference cycle: only the collector frees it

        def __call__(self, texts: list[str]) -> Embedding:
            return np.ones((len(texts), 2), dtype=np.float32)

    p = predictor(Embedder)
    await p.load()
    # The worker thread that made the instance keeps its last result until its next job: give it one.
    await anyio.to_thread.run_sync(lambda: None)
    gone = weakref.ref(p._instance)
    gc.freeze()
    try:
        await p.unload()
        assert gone() is None
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


# Closing: a consumer that stops early closes the predictor's generator


def sync_chat(closed: threading.Event, limit: int = -1) -> Any:
    """A chat generator that yields `limit` words (forever by default) and sets `closed` in `finally`."""

    def chat(messages: list[Message]) -> Iterator[str]:
        try:
            count = 0
            while count != limit:
                count += 1
                yield "word"
        finally:
            closed.set()

    return chat


def async_chat(closed: threading.Event, limit: int = -1) -> Any:
    async def chat(messages: list[Message]) -> AsyncIterator[str]:
        try:
            count = 0
            while count != limit:
                count += 1
                await anyio.lowlevel.checkpoint()
                yield "word"
        finally:
            closed.set()

    return chat


CHATS = pytest.mark.parametrize("make", [sync_chat, async_chat], ids=["sync", "async"])


@CHATS
async def test_finished_stream_runs_finally(make: Any) -> None:
    closed = threading.Event()
    assert await collect(predictor(make(closed, 2)).stream(messages=MESSAGES)) == ["word", "word"]
    assert closed.is_set()


@CHATS
async def test_break_closes_the_generator(make: Any) -> None:
    closed = threading.Event()
    async for _ in predictor(make(closed)).stream(messages=MESSAGES):
        break
    assert await wait_for(closed)


@CHATS
async def test_aclose_closes_the_generator(make: Any) -> None:
    closed = threading.Event()
    stream = predictor(make(closed)).stream(messages=MESSAGES)
    assert await anext(stream) == "word"
    await stream.aclose()
    assert closed.is_set(), "the predictor's generator must be closed by the time aclose() returns"


@CHATS
async def test_cancelled_consumer_closes_the_generator(make: Any) -> None:
    closed = threading.Event()
    stream = predictor(make(closed)).stream(messages=MESSAGES)
    with anyio.CancelScope() as scope:
        async for _ in stream:
            scope.cancel()
    assert scope.cancelled_caught
    assert closed.is_set()


class Hooked:
    """An embedding class with optional hooks, sync and async."""

    max_input_tokens = 8

    def __call__(self, texts: list[str]) -> Embedding:
        return np.zeros((len(texts), 2), dtype=np.float32)

    def count_tokens(self, texts: list[str]) -> list[int]:
        if "boom" in texts:
            raise RuntimeError("tokenizer exploded")
        return [len(text.split()) for text in texts]

    async def embed_tokens(self, token_ids: list[list[int]]) -> np.ndarray:
        return np.ones((len(token_ids), 2), dtype=np.float32)


async def test_hooks_of_a_loaded_instance() -> None:
    hooked = predictor(Hooked())
    await hooked.load()
    assert hooked.attribute("max_input_tokens") == 8
    assert hooked.attribute("missing") is None
    assert await hooked.call_method("count_tokens", ["a b", "c"]) == [2, 1]
    assert hooked.call_method_inline("count_tokens", ["a b c"]) == [3]
    assert (await hooked.call_method("embed_tokens", [[1], [2]])).shape == (2, 2)


async def test_hook_failures_name_the_model() -> None:
    hooked = predictor(Hooked(), name="hooked")
    await hooked.load()
    with pytest.raises(PredictorError, match="`hooked` failed: RuntimeError: tokenizer exploded"):
        await hooked.call_method("count_tokens", ["boom"])
    with pytest.raises(PredictorError, match="`hooked` failed"):
        hooked.call_method_inline("count_tokens", ["boom"])
    with pytest.raises(PredictorError, match="no method 'missing'"):
        await hooked.call_method("missing")
    with pytest.raises(PredictorError, match="no sync method 'embed_tokens'"):
        hooked.call_method_inline("embed_tokens", [[1]])
