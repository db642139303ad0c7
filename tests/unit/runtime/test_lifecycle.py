"""Lazy loading, shared first loads, failed loads, idle unloading and the memory budget (runtime.registry)."""

from __future__ import annotations

import asyncio
import mmap
import threading
import time
from typing import Annotated

import numpy as np
import pytest

from modelport import Parameter
from modelport.errors import ConflictError, ModelLoadError, ModelNotFoundError, UnavailableError
from modelport.predictor import build_spec
from modelport.runtime import LoadPolicy, Registry, State

pytestmark = pytest.mark.anyio

MB = 1_000_000


class Embedder:
    """A model class that counts its loads and unloads; `fail` loads raise, `gate` holds a load open."""

    def __init__(self, fail: int = 0, gate: threading.Event | None = None, allocate: int = 0) -> None:
        self.loads = 0
        self.unloads = 0
        self.fail = fail
        self.gate = gate
        self.allocate = allocate
        self.memory: mmap.mmap | None = None

    def load(self) -> None:
        self.loads += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail:
            self.fail -= 1
            raise OSError("weights.bin is truncated")
        # Fresh pages of an anonymous map, each written so it is resident: a plain allocation may reuse heap
        # pages earlier tests freed, which are resident already, and the load would measure no growth (it
        # did in CI, in the whole suite).
        self.memory = mmap.mmap(-1, max(self.allocate, 1))
        for offset in range(0, self.allocate, mmap.PAGESIZE):
            self.memory[offset] = 1

    def unload(self) -> None:
        self.unloads += 1
        if self.memory is not None:
            self.memory.close()
        self.memory = None

    def __call__(self, texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
        return np.ones((len(texts), 2), dtype=np.float32)


def registry_of(*models: tuple[str, Embedder, LoadPolicy], **options: object) -> Registry:
    registry = Registry(**options)  # type: ignore[arg-type]
    for name, target, policy in models:
        registry.add(build_spec(target, name=name), policy)
    return registry


LAZY = LoadPolicy(at_start=False)


async def test_a_lazy_model_loads_on_its_first_request() -> None:
    model = Embedder()
    registry = registry_of(("a", model, LAZY))
    await registry.start()
    await registry.wait_ready()
    assert registry.model("a").state is State.UNLOADED
    assert model.loads == 0
    lease = await registry.acquire("a")
    assert registry.model("a").state is State.LOADED
    assert model.loads == 1
    assert await lease.predictor.call(texts=["x"]) is not None
    lease.release()
    await registry.stop()
    assert model.unloads == 1


async def test_start_up_models_load_in_the_background_and_make_the_registry_ready() -> None:
    gate = threading.Event()
    registry = registry_of(("a", Embedder(gate=gate), LoadPolicy(at_start=True)))
    await registry.start()
    await asyncio.sleep(0.05)
    assert not registry.ready
    assert registry.model("a").state is State.LOADING
    gate.set()
    await registry.wait_ready()
    assert registry.ready
    assert registry.model("a").state is State.LOADED
    await registry.stop()


async def test_concurrent_first_requests_share_one_load() -> None:
    gate = threading.Event()
    model = Embedder(gate=gate)
    registry = registry_of(("a", model, LAZY))
    waiting = [asyncio.create_task(registry.acquire("a")) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert registry.model("a").state is State.LOADING
    gate.set()
    leases = await asyncio.gather(*waiting)
    assert model.loads == 1
    assert registry.model("a").in_use == 5
    for lease in leases:
        lease.release()
    assert registry.model("a").in_use == 0
    await registry.stop()


async def test_a_slow_load_answers_503_with_retry_after_and_goes_on() -> None:
    gate = threading.Event()
    registry = registry_of(("a", Embedder(gate=gate), LAZY), load_timeout=0.05)
    with pytest.raises(UnavailableError) as caught:
        await registry.acquire("a")
    assert caught.value.status_code == 503
    assert caught.value.code == "model_loading"
    assert int(caught.value.headers["Retry-After"]) >= 1
    assert registry.model("a").in_use == 0
    assert registry.model("a").state is State.LOADING
    gate.set()
    registry.load_timeout = 10
    (await registry.acquire("a")).release()
    assert registry.model("a").state is State.LOADED
    await registry.stop()


async def test_a_failed_load_names_the_model_and_the_next_request_tries_again() -> None:
    model = Embedder(fail=1)
    registry = registry_of(("a", model, LAZY))
    with pytest.raises(ModelLoadError) as caught:
        await registry.acquire("a")
    assert caught.value.status_code == 500
    assert "`a`" in caught.value.message
    assert "weights.bin is truncated" in caught.value.message
    managed = registry.model("a")
    assert managed.state is State.UNLOADED
    assert managed.in_use == 0
    assert managed.last_error is not None
    (await registry.acquire("a")).release()
    assert model.loads == 2
    assert managed.state is State.LOADED
    assert managed.last_error is None
    await registry.stop()


async def test_every_waiter_of_a_failed_shared_load_gets_the_error() -> None:
    gate = threading.Event()
    registry = registry_of(("a", Embedder(fail=1, gate=gate), LAZY))
    waiting = [asyncio.create_task(registry.acquire("a")) for _ in range(3)]
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(result, ModelLoadError) for result in results)
    assert registry.model("a").in_use == 0
    await registry.stop()


async def unloaded(registry: Registry, name: str) -> None:
    """Until the model is unloaded: a loaded machine may run the idle check late, so no fixed wait."""
    deadline = time.monotonic() + 30
    while registry.model(name).state is not State.UNLOADED:
        assert time.monotonic() < deadline, f"{name} never unloaded"
        await asyncio.sleep(0.02)


async def test_idle_models_unload_after_their_idle_time_but_not_while_in_use() -> None:
    idle, busy = Embedder(), Embedder()
    policy = LoadPolicy(at_start=False, idle_timeout=0.1)
    registry = registry_of(("idle", idle, policy), ("busy", busy, policy))
    await registry.start()
    (await registry.acquire("idle")).release()
    held = await registry.acquire("busy")
    await unloaded(registry, "idle")
    assert idle.unloads == 1
    # Held past the idle time the other model needed to unload: still loaded.
    await asyncio.sleep(0.3)
    assert registry.model("busy").state is State.LOADED
    held.release()
    await unloaded(registry, "busy")
    # Unloaded by idleness, it loads again on the next request.
    (await registry.acquire("idle")).release()
    assert idle.loads == 2
    await registry.stop()


def budgeted(budget: int, *names: str, pinned: str = "") -> tuple[Registry, dict[str, Embedder]]:
    models = {name: Embedder() for name in names}
    registry = registry_of(
        *[(n, m, LoadPolicy(at_start=False, pinned=n == pinned, estimated_bytes=40 * MB)) for n, m in models.items()],
        max_memory=budget,
    )
    return registry, models


async def use(registry: Registry, name: str) -> None:
    (await registry.acquire(name)).release()


async def test_the_budget_unloads_the_least_recently_used_idle_models_first() -> None:
    registry, models = budgeted(100 * MB, "a", "b", "c")
    await use(registry, "a")
    await use(registry, "b")
    await use(registry, "a")
    await use(registry, "c")
    states = {name: registry.model(name).state for name in models}
    assert states == {"a": State.LOADED, "b": State.UNLOADED, "c": State.LOADED}
    await use(registry, "b")
    assert registry.model("a").state is State.UNLOADED
    assert registry.memory_in_use() <= 100 * MB
    await registry.stop()


async def test_the_budget_never_unloads_a_model_in_use_or_pinned() -> None:
    registry, _ = budgeted(100 * MB, "a", "b", "c", pinned="b")
    held = await registry.acquire("a")
    await use(registry, "b")
    with pytest.raises(UnavailableError) as caught:
        await registry.acquire("c")
    assert caught.value.code == "insufficient_memory"
    assert "Retry-After" in caught.value.headers
    assert registry.model("a").state is State.LOADED
    assert registry.model("b").state is State.LOADED
    held.release()
    await use(registry, "c")
    assert registry.model("a").state is State.UNLOADED
    assert registry.model("b").state is State.LOADED
    await registry.stop()


async def test_a_model_larger_than_the_budget_is_refused_without_unloading_others() -> None:
    registry, _ = budgeted(30 * MB, "a")
    with pytest.raises(UnavailableError) as caught:
        await registry.acquire("a")
    assert caught.value.code == "insufficient_memory"
    assert "more than the memory budget" in caught.value.message
    assert "Retry-After" not in caught.value.headers
    await registry.stop()


async def test_a_load_measures_what_the_model_takes() -> None:
    model = Embedder(allocate=60 * MB)
    registry = registry_of(("a", model, LoadPolicy(at_start=False, estimated_bytes=1 * MB)))
    await use(registry, "a")
    # Resident memory grew by about what the load allocated: the estimate is corrected upwards.
    assert registry.model("a").memory_bytes >= 50 * MB
    await registry.stop()


async def test_unload_and_load_on_demand() -> None:
    model = Embedder()
    registry = registry_of(("a", model, LAZY))
    assert (await registry.load("a")).state is State.LOADED
    held = await registry.acquire("a")
    with pytest.raises(ConflictError):
        await registry.unload("a")
    held.release()
    assert (await registry.unload("a")).state is State.UNLOADED
    assert model.unloads == 1
    with pytest.raises(ModelNotFoundError):
        await registry.load("nope")
    await registry.stop()


async def test_a_plain_function_is_always_loaded() -> None:
    def embed(texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
        return np.ones((len(texts), 2), dtype=np.float32)

    registry = Registry([build_spec(embed, name="f")])
    assert registry.model("f").state is State.LOADED
    await registry.unload("f")
    assert registry.model("f").state is State.LOADED
    await registry.stop()


async def test_a_failed_start_up_load_keeps_the_registry_unready_until_a_load_succeeds() -> None:
    registry = registry_of(("a", Embedder(fail=1), LoadPolicy(at_start=True)))
    await registry.start()
    await registry.wait_ready()
    assert registry.start_failures == {"a"}
    assert not registry.ready
    (await registry.acquire("a")).release()
    assert registry.ready
    await registry.stop()
