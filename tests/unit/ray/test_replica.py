"""A replica's body without Ray: it finds its model in the catalog, merges embedding calls into batches,
and hands a model's own errors back as data."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelport import App, Message
from modelport.config import Settings
from modelport.errors import ModelportError
from modelport.ray.replica import STREAM_AHEAD, ModelReplica, ModelSource, ReplicaError

MODELS = Path(__file__).resolve().parents[2] / "ray_serve" / "replica_models.py"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _replica(name: str, **settings: object) -> ModelReplica:
    return ModelReplica(ModelSource.of(Settings(targets=[str(MODELS), str(EXAMPLES)], **settings)), name)


def test_concurrent_embedding_calls_run_as_one_batch() -> None:
    replica = _replica("batch-probe")

    async def main() -> list[np.ndarray]:
        return await asyncio.gather(*(replica.call({"texts": [f"text {i}", "more"]}) for i in range(5)))

    rows = asyncio.run(main())
    assert [len(r) for r in rows] == [2] * 5
    # The first call may run alone; the others arrive while it runs and share the next batch.
    assert sum(replica.batch_sizes) == 10
    assert len(replica.batch_sizes) < 5
    assert max(int(r[0, 0]) for r in rows) > 2


def test_batching_off_runs_each_call_alone() -> None:
    replica = _replica("batch-probe", embedding_batching=False)

    async def main() -> None:
        await asyncio.gather(*(replica.call({"texts": ["a"]}) for _ in range(3)))

    asyncio.run(main())
    assert replica.batch_sizes == [1, 1, 1]


def test_options_split_batches_and_rows_keep_their_order() -> None:
    replica = _replica("hash-embed")

    async def main() -> list[np.ndarray]:
        return await asyncio.gather(
            replica.call({"texts": ["red apple", "green pear"], "dimensions": 16}),
            replica.call({"texts": ["red apple"]}),
        )

    short, full = asyncio.run(main())
    assert short.shape == (2, 16)
    assert full.shape == (1, 256)
    assert np.allclose(short[0], full[0, :16] / np.linalg.norm(full[0, :16]), atol=1e-5)


def test_a_model_error_crosses_as_data() -> None:
    replica = _replica("crash")

    async def main() -> None:
        async for _ in replica.stream({"messages": [{"role": "user", "content": "refuse"}]}):
            pass

    with pytest.raises(ReplicaError) as raised:
        asyncio.run(main())
    error = raised.value.to_modelport()
    assert isinstance(error, ModelportError)
    assert (error.status_code, error.param) == (400, "messages")


def _trips(replica: ModelReplica, content: str) -> list[list[Any]]:
    """The lists a chat stream of `content` arrives in, read as slowly as trips to the ingress go."""

    async def main() -> list[list[Any]]:
        trips = []
        async for items in replica.stream({"messages": [{"role": "user", "content": content}]}):
            trips.append(items)
            await asyncio.sleep(0.05)  # as a trip to the ingress takes a while
        return trips

    return asyncio.run(main())


def test_a_stream_arrives_whole_in_fewer_trips() -> None:
    replica = _replica("shout")

    trips = _trips(replica, "a b c d e f")
    words = [item for items in trips for item in items]
    assert len(words) == 6
    assert "".join(words) == "A B C D E F"
    # The first word goes at once; the rest, made while it travelled, share the following trips.
    assert len(trips) < 6


def test_a_consumer_that_stops_stops_the_model() -> None:
    replica = _replica("whoami")

    async def main() -> None:
        stream = replica.stream({"messages": [{"role": "user", "content": "hi"}], "delay": 0.0})
        assert await anext(stream)
        await stream.aclose()

    asyncio.run(main())


def test_an_unknown_name_fails_the_replica() -> None:
    with pytest.raises(LookupError, match="nope"):
        _replica("nope")


def test_a_sync_model_fast_enough_fills_one_trip() -> None:
    # `echo` is a plain generator of seven chunks; they are made in one thread, so they do not wait a hop each.
    replica = _replica("echo")

    trips = _trips(replica, "a b c d e")
    assert sum(len(items) for items in trips) == 7
    assert len(trips) <= 2


def _endless_app(closed: threading.Event, made: list[int]) -> App:
    def endless(messages: list[Message]) -> Iterator[str]:
        try:
            for i in itertools.count():
                made.append(i)
                yield f"{i} "
        finally:
            closed.set()

    def broken(messages: list[Message]) -> Iterator[str]:
        yield "half"
        raise RuntimeError("the model broke")

    app = App("replica-tests")
    app.add(endless, name="endless")
    app.add(broken, name="broken")
    return app


def test_an_abandoned_sync_model_stops_within_its_lead() -> None:
    closed, made = threading.Event(), []
    replica = ModelReplica(ModelSource.of(Settings(), _endless_app(closed, made)), "endless")

    async def main() -> None:
        stream = replica.stream({"messages": [{"role": "user", "content": "go"}]})
        await anext(stream)
        await asyncio.sleep(0.2)
        await stream.aclose()

    asyncio.run(main())
    # The generator was closed on its own thread, after running ahead by no more than the two bounded queues
    # and the list being filled.
    assert closed.is_set()
    assert len(made) <= 3 * STREAM_AHEAD + 3


def test_a_sync_model_that_breaks_midway_fails_as_the_server_error() -> None:
    replica = ModelReplica(ModelSource.of(Settings(), _endless_app(threading.Event(), [])), "broken")

    async def main() -> list[object]:
        return [items async for items in replica.stream({"messages": [{"role": "user", "content": "go"}]})]

    with pytest.raises(ReplicaError) as raised:
        asyncio.run(main())
    error = raised.value.to_modelport()
    assert error.status_code == 500
    assert "broken" in error.message
    assert "the model broke" in error.message


def test_slots_bound_the_calls_that_run_at_once() -> None:
    one = _replica("slow")
    replica = ModelReplica(ModelSource.of(Settings(targets=[str(MODELS)])), "slow", 1)

    async def three(target: ModelReplica) -> float:
        async def ask() -> None:
            async for _ in target.stream({"messages": [{"role": "user", "content": "hi"}], "delay": 0.2}):
                pass

        started = time.monotonic()
        await asyncio.gather(ask(), ask(), ask())
        return time.monotonic() - started

    # One slot: the calls run one after the other; unbounded, side by side.
    assert asyncio.run(three(replica)) >= 0.6
    assert asyncio.run(three(one)) < 0.6


async def _collect(stream: AsyncIterator[list[Any]]) -> list[list[Any]]:
    return [items async for items in stream]


def test_calls_on_a_loop_that_runs_forever_share_one_worker_thread() -> None:
    # Ray runs a replica's loop forever and each request in a task of its own: without an anchor, AnyIO took
    # each request's task for its root and started a thread per call.
    threads: list[threading.Thread] = []

    def where(messages: list[Message]) -> Iterator[str]:
        threads.append(threading.current_thread())
        yield "here"

    app = App("thread-tests")
    app.add(where, name="where")
    replica = ModelReplica(ModelSource.of(Settings(), app), "where")
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        for _ in range(3):
            call = _collect(replica.stream({"messages": [{"role": "user", "content": "hi"}]}))
            assert asyncio.run_coroutine_threadsafe(call, loop).result(timeout=30) == [["here"]]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(timeout=30)
        loop.close()
    assert len(threads) == 3
    assert threads[0] is threads[1] is threads[2]
