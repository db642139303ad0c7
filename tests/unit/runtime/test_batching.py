"""Dynamic batching (modelport.runtime.batching) with a fake predictor that records its batches."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

import numpy as np
import pytest

from modelport.runtime.batching import Batcher, BatcherClosedError

pytestmark = pytest.mark.anyio

# A guard against a hang, never a timed assertion: every test finishes in milliseconds when it passes.
GUARD = 10.0
# Long enough that a test fails by hanging into GUARD if the batcher waits for a window it should skip.
LONG_WINDOW = 60.0


class FakeModel:
    """Returns row [item, key] for each item; records batches; fails a batch that holds "bad"."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[Any], Hashable]] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, items: list[Any], key: Hashable) -> np.ndarray:
        self.batches.append((list(items), key))
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if "bad" in items:
            raise ValueError("bad input in this batch")
        return np.array([[float(item), float(key or 0)] for item in items], dtype=np.float32)

    @property
    def sizes(self) -> list[int]:
        return [len(items) for items, _ in self.batches]


def rows(values: list[float], key: float = 0.0) -> np.ndarray:
    return np.array([[value, key] for value in values], dtype=np.float32)


async def test_concurrent_callers_share_a_batch_and_get_their_own_rows() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=64, window=0.05)
    requests = [[1, 2], [3], [4, 5, 6]]
    async with asyncio.timeout(GUARD):
        results = await asyncio.gather(*(batcher.submit(items) for items in requests))
    for items, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result, rows([float(i) for i in items]))
    assert model.sizes == [6]
    await batcher.aclose()


async def test_full_batch_runs_without_waiting_for_the_window() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=4, window=LONG_WINDOW)
    async with asyncio.timeout(GUARD):
        result = await batcher.submit([1, 2, 3, 4])
    np.testing.assert_array_equal(result, rows([1, 2, 3, 4]))
    await batcher.aclose()


async def test_a_lone_request_does_not_wait_for_the_window() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=64, window=LONG_WINDOW)
    async with asyncio.timeout(GUARD):
        np.testing.assert_array_equal(await batcher.submit([1]), rows([1]))
        np.testing.assert_array_equal(await batcher.submit([2]), rows([2]))
    assert model.sizes == [1, 1]
    await batcher.aclose()


async def test_requests_arriving_pass_after_pass_share_one_batch() -> None:
    # Each request reaches the batcher one event-loop pass after the one before, as a burst of HTTP requests
    # does: the batch waits while they keep coming, and runs as soon as they stop, long before the window.
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=64, window=LONG_WINDOW)
    async with asyncio.timeout(GUARD):
        tasks = []
        for value in range(5):
            tasks.append(asyncio.create_task(batcher.submit([value])))
            await asyncio.sleep(0)
        results = await asyncio.gather(*tasks)
    assert model.sizes == [5]
    assert [float(result[0, 0]) for result in results] == [0.0, 1.0, 2.0, 3.0, 4.0]
    await batcher.aclose()


async def test_the_window_caps_the_wait_while_requests_keep_coming() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=1_000_000, window=0.02)
    async with asyncio.timeout(GUARD):
        tasks = []
        while not model.entered.is_set():
            tasks.append(asyncio.create_task(batcher.submit([len(tasks)])))
            await asyncio.sleep(0)
        results = await asyncio.gather(*tasks)
    assert [float(result[0, 0]) for result in results] == [float(i) for i in range(len(tasks))]
    assert model.sizes[0] < len(tasks)
    await batcher.aclose()


async def test_requests_waiting_behind_a_running_batch_are_merged() -> None:
    model = FakeModel()
    model.gate = asyncio.Event()
    batcher = Batcher(model, max_batch_size=64, window=0)
    async with asyncio.timeout(GUARD):
        first = asyncio.create_task(batcher.submit([1]))
        await model.entered.wait()
        later = [asyncio.create_task(batcher.submit([value])) for value in (2, 3, 4)]
        await asyncio.sleep(0)
        model.gate.set()
        await first
        results = await asyncio.gather(*later)
    assert model.sizes == [1, 3]
    assert [float(result[0, 0]) for result in results] == [2.0, 3.0, 4.0]
    await batcher.aclose()


async def test_large_request_is_split_into_batches_of_max_size() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=4, window=0)
    async with asyncio.timeout(GUARD):
        result = await batcher.submit(list(range(10)))
    np.testing.assert_array_equal(result, rows([float(i) for i in range(10)]))
    assert model.sizes == [4, 4, 2]
    await batcher.aclose()


async def test_batches_never_exceed_max_size_across_callers() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=4, window=0.05)
    requests = [[1, 2, 3], [4, 5], [6], [7, 8, 9, 10, 11]]
    async with asyncio.timeout(GUARD):
        results = await asyncio.gather(*(batcher.submit(items) for items in requests))
    for items, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result, rows([float(i) for i in items]))
    assert max(model.sizes) <= 4
    assert sum(model.sizes) == 11
    await batcher.aclose()


async def test_different_keys_are_never_merged() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=64, window=0.05)
    async with asyncio.timeout(GUARD):
        a, b, c = await asyncio.gather(batcher.submit([1], key=1), batcher.submit([2], key=2), batcher.submit([3], 1))
    np.testing.assert_array_equal(a, rows([1], key=1))
    np.testing.assert_array_equal(b, rows([2], key=2))
    np.testing.assert_array_equal(c, rows([3], key=1))
    assert sorted((items, key) for items, key in model.batches) == [([1, 3], 1), ([2], 2)]
    await batcher.aclose()


async def test_a_failing_batch_fails_exactly_its_callers() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=2, window=0.05)
    async with asyncio.timeout(GUARD):
        good, bad, also_good = await asyncio.gather(
            batcher.submit([1, 2]), batcher.submit([3, "bad"]), batcher.submit([5, 6]), return_exceptions=True
        )
        assert isinstance(bad, ValueError)
        assert isinstance(good, np.ndarray)
        np.testing.assert_array_equal(good, rows([1, 2]))
        assert isinstance(also_good, np.ndarray)
        np.testing.assert_array_equal(also_good, rows([5, 6]))
        # The worker goes on serving after a failure.
        np.testing.assert_array_equal(await batcher.submit([7]), rows([7]))
    await batcher.aclose()


async def test_a_failure_reaches_every_caller_in_the_batch() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=64, window=0.05)
    async with asyncio.timeout(GUARD):
        results = await asyncio.gather(batcher.submit([1]), batcher.submit(["bad"]), return_exceptions=True)
    assert all(isinstance(result, ValueError) for result in results)
    assert model.sizes == [2]
    await batcher.aclose()


async def test_without_merging_each_request_runs_alone() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=4, window=0.05, merge=False)
    async with asyncio.timeout(GUARD):
        results = await asyncio.gather(batcher.submit([1]), batcher.submit([2, 3]), batcher.submit(list(range(6))))
    np.testing.assert_array_equal(results[2], rows([float(i) for i in range(6)]))
    assert model.sizes == [1, 2, 4, 2]
    await batcher.aclose()


async def test_a_cancelled_caller_is_not_computed() -> None:
    model = FakeModel()
    model.gate = asyncio.Event()
    batcher = Batcher(model, max_batch_size=64, window=0)
    async with asyncio.timeout(GUARD):
        first = asyncio.create_task(batcher.submit([1]))
        await model.entered.wait()
        gone = asyncio.create_task(batcher.submit([2]))
        kept = asyncio.create_task(batcher.submit([3]))
        await asyncio.sleep(0)
        gone.cancel()
        model.gate.set()
        await first
        np.testing.assert_array_equal(await kept, rows([3]))
    assert [items for items, _ in model.batches] == [[1], [3]]
    await batcher.aclose()


async def test_close_fails_waiting_callers() -> None:
    model = FakeModel()
    model.gate = asyncio.Event()
    batcher = Batcher(model, max_batch_size=64, window=0)
    async with asyncio.timeout(GUARD):
        running = asyncio.create_task(batcher.submit([1]))
        await model.entered.wait()
        waiting = asyncio.create_task(batcher.submit([2]))
        await asyncio.sleep(0)
        await batcher.aclose()
        with pytest.raises(BatcherClosedError):
            await waiting
        with pytest.raises(BatcherClosedError):
            await running
        with pytest.raises(BatcherClosedError):
            await batcher.submit([3])


@pytest.mark.parametrize(("size", "window"), [(0, 0.0), (1, -1.0)])
def test_invalid_settings(size: int, window: float) -> None:
    with pytest.raises(ValueError, match=r"max_batch_size|window"):
        Batcher(FakeModel(), max_batch_size=size, window=window)


async def test_empty_submit_is_refused() -> None:
    batcher = Batcher(FakeModel(), max_batch_size=4, window=0)
    with pytest.raises(ValueError, match="at least one item"):
        await batcher.submit([])


async def test_with_concurrency_the_next_batch_runs_beside_a_running_one() -> None:
    model = FakeModel()
    model.gate = asyncio.Event()
    batcher = Batcher(model, max_batch_size=64, window=0, concurrency=2)
    async with asyncio.timeout(GUARD):
        first = asyncio.create_task(batcher.submit([1]))
        await model.entered.wait()
        model.entered.clear()
        second = asyncio.create_task(batcher.submit([2, 3]))
        await model.entered.wait()
        # Both slots are taken: a third request waits, and joins with the fourth once a slot is free.
        third = asyncio.create_task(batcher.submit([4]))
        fourth = asyncio.create_task(batcher.submit([5]))
        for _ in range(10):
            await asyncio.sleep(0)
        assert model.sizes == [1, 2]
        model.gate.set()
        results = await asyncio.gather(first, second, third, fourth)
    assert model.sizes == [1, 2, 2]
    for result, values in zip(results, [[1], [2, 3], [4], [5]], strict=True):
        np.testing.assert_array_equal(result, rows([float(value) for value in values]))
    await batcher.aclose()


async def test_while_a_batch_computes_the_next_gathers_past_the_window() -> None:
    # Requests keep arriving for two windows while the first batch runs: with a core busy, the next batch
    # takes them all rather than running a window after the first of them with a part.
    model = FakeModel()
    model.gate = asyncio.Event()
    # Long enough that the ten windows the batch may gather stay far ahead of two windows of arrivals even
    # when the machine stalls this process (at 10 ms a loaded CI run once started the batch early).
    window = 0.05
    batcher = Batcher(model, max_batch_size=1_000_000, window=window, concurrency=2)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(GUARD):
        first = asyncio.create_task(batcher.submit([0]))
        await model.entered.wait()
        model.entered.clear()
        tasks = []
        start = loop.time()
        while loop.time() < start + 2 * window:
            tasks.append(asyncio.create_task(batcher.submit([len(tasks) + 1])))
            await asyncio.sleep(0)
        await model.entered.wait()
        assert model.sizes == [1, len(tasks)]
        model.gate.set()
        await asyncio.gather(first, *tasks)
    await batcher.aclose()


async def test_once_no_batch_computes_the_window_caps_the_wait_again() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=1_000_000, window=0.01, concurrency=2)
    async with asyncio.timeout(GUARD):
        tasks = []
        while not model.entered.is_set():
            tasks.append(asyncio.create_task(batcher.submit([len(tasks)])))
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
    assert model.sizes[0] < len(tasks)
    await batcher.aclose()


async def test_without_merging_requests_run_one_at_a_time_whatever_the_concurrency() -> None:
    model = FakeModel()
    model.gate = asyncio.Event()
    batcher = Batcher(model, max_batch_size=64, window=0, merge=False, concurrency=4)
    async with asyncio.timeout(GUARD):
        tasks = [asyncio.create_task(batcher.submit([value])) for value in (1, 2, 3)]
        await model.entered.wait()
        for _ in range(10):
            await asyncio.sleep(0)
        assert model.sizes == [1]
        model.gate.set()
        await asyncio.gather(*tasks)
    assert model.sizes == [1, 1, 1]
    await batcher.aclose()


async def test_close_fails_every_batch_in_flight() -> None:
    model = FakeModel()
    model.gate = asyncio.Event()
    batcher = Batcher(model, max_batch_size=64, window=0, concurrency=2)
    async with asyncio.timeout(GUARD):
        running = [asyncio.create_task(batcher.submit([1]))]
        await model.entered.wait()
        model.entered.clear()
        running.append(asyncio.create_task(batcher.submit([2])))
        await model.entered.wait()
        await batcher.aclose()
        for task in running:
            with pytest.raises(BatcherClosedError):
                await task


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Batcher(FakeModel(), max_batch_size=4, window=0, concurrency=0)
