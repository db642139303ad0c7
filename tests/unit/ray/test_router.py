"""The request router on Ray's own base class, with replicas that only answer their queue length: a request
goes where the cache knows there is room, and when all are full it waits for a request to end there."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from ray.serve._private.common import DeploymentHandleSource, DeploymentID, RequestMetadata
from ray.serve.config import RequestRouterConfig
from ray.serve.request_router import PendingRequest, ReplicaID, RequestRouter

from modelport.ray.options import REQUEST_ROUTER
from modelport.ray.router import SlotRouter

DEPLOYMENT = DeploymentID(name="model", app_name="modelport")


class Replica:
    """What the router reads of a running replica; `queued` is what it answers when asked."""

    def __init__(self, name: str, queued: int, limit: int = 2) -> None:
        self.replica_id = ReplicaID(unique_id=name, deployment_id=DEPLOYMENT)
        self.max_ongoing_requests = limit
        self.queued = queued
        self.asked = 0

    async def get_queue_len(self, *, deadline_s: float) -> int:
        self.asked += 1
        return self.queued


def _pending() -> PendingRequest:
    return PendingRequest(args=[], kwargs={}, metadata=RequestMetadata(request_id="r", internal_request_id="r"))


async def _router(*replicas: Replica, fallback_s: float = 5.0) -> SlotRouter:
    router = SlotRouter(
        deployment_id=DEPLOYMENT, handle_source=DeploymentHandleSource.UNKNOWN, use_replica_queue_len_cache=True
    )
    router.initialize_state(fallback_s=fallback_s)
    router.update_replicas(list(replicas))  # type: ignore[arg-type]
    for _ in range(100):  # Ray asks new replicas their queue lengths in a task of its own
        if all(router.replica_queue_len_cache.get(r.replica_id) is not None for r in replicas):
            break
        await asyncio.sleep(0.01)
    return router


def _names(chosen: list[list[Any]]) -> list[list[str]]:
    return [[r.replica_id.unique_id for r in rank] for rank in chosen]


def test_ray_takes_the_router_by_its_path_and_pickles_it_by_value() -> None:
    config = RequestRouterConfig(request_router_class=REQUEST_ROUTER)
    router = config.get_request_router_class()
    assert issubclass(router, RequestRouter)
    assert router.__name__ == "SlotRouter"


def test_the_replica_with_the_most_room_comes_first() -> None:
    async def main() -> list[list[str]]:
        full, one, empty = Replica("full", 2), Replica("one", 1), Replica("empty", 0)
        router = await _router(full, one, empty)
        return _names(await router.choose_replicas(router._replicas_list, _pending()))

    assert asyncio.run(main()) == [["empty"]]


def test_a_replica_chosen_counts_fuller_until_its_request_is_sent() -> None:
    # Ray counts a request in its cache only once it is sent: the requests chosen before took the same room.
    async def main() -> tuple[list[str], float]:
        a, b = Replica("a", 1), Replica("b", 1)
        router = await _router(a, b, fallback_s=0.1)
        first = _names(await router.choose_replicas(router._replicas_list, _pending()))[0]
        second = _names(await router.choose_replicas(router._replicas_list, _pending()))[0]
        router.on_send_request(a.replica_id if first[0] == "a" else b.replica_id)
        started = time.monotonic()
        await router.choose_replicas(router._replicas_list, _pending())  # both full: waits for news
        return sorted(first + second), time.monotonic() - started

    chosen, waited = asyncio.run(main())
    assert chosen == ["a", "b"]
    assert waited >= 0.1


def test_a_replica_the_cache_does_not_know_is_asked() -> None:
    async def main() -> list[list[str]]:
        full = Replica("full", 2)
        router = await _router(full)
        router.replica_queue_len_cache.invalidate_key(full.replica_id)
        return _names(await router.choose_replicas(router._replicas_list, _pending()))

    assert asyncio.run(main()) == [["full"]]


def test_when_all_are_full_a_request_ending_wakes_one_waiting_request_for_its_replica() -> None:
    async def main() -> None:
        a, b = Replica("a", 2), Replica("b", 2)
        router = await _router(a, b)
        first = asyncio.create_task(router.choose_replicas(router._replicas_list, _pending()))
        second = asyncio.create_task(router.choose_replicas(router._replicas_list, _pending()))
        await asyncio.sleep(0.05)
        assert not first.done()
        assert not second.done()
        asked = a.asked + b.asked
        # As the handle reports an end: the hook, then the cache's count lowered in a callback queued with it.
        started = time.monotonic()
        router.on_request_completed(b.replica_id, "r")
        router.decrement_queue_len_cache(b.replica_id)  # Ray's own callback, queued with the hook's
        done, waiting = await asyncio.wait({first, second}, return_when=asyncio.FIRST_COMPLETED)
        assert time.monotonic() - started < 1.0
        assert _names(done.pop().result()) == [["b"]]
        assert len(waiting) == 1
        assert not waiting.pop().done()
        # Waiting asked no replica anything.
        assert a.asked + b.asked == asked
        first.cancel()
        second.cancel()

    asyncio.run(main())


def test_a_replica_reporting_room_wakes_a_waiting_request() -> None:
    async def main() -> list[list[str]]:
        a = Replica("a", 2)
        router = await _router(a)
        waiting = asyncio.create_task(router.choose_replicas(router._replicas_list, _pending()))
        await asyncio.sleep(0.05)
        router.on_new_queue_len_info(a.replica_id, 1)
        return _names(await asyncio.wait_for(waiting, 1.0))

    assert asyncio.run(main()) == [["a"]]


def test_without_news_the_replicas_are_asked_after_the_fallback() -> None:
    async def main() -> tuple[float, list[list[str]]]:
        a, b = Replica("a", 2), Replica("b", 2)
        router = await _router(a, b, fallback_s=0.1)
        started = time.monotonic()
        chosen = await router.choose_replicas(router._replicas_list, _pending())
        return time.monotonic() - started, _names(chosen)

    waited, chosen = asyncio.run(main())
    assert 0.1 <= waited < 1.0
    assert sorted(chosen[0]) == ["a", "b"]


def test_a_cancelled_request_passes_its_wake_on() -> None:
    async def main() -> list[list[str]]:
        a = Replica("a", 2)
        router = await _router(a)
        first = asyncio.create_task(router.choose_replicas(router._replicas_list, _pending()))
        await asyncio.sleep(0.02)
        second = asyncio.create_task(router.choose_replicas(router._replicas_list, _pending()))
        await asyncio.sleep(0.02)
        router.replica_queue_len_cache.update(a.replica_id, 1)
        router._wake_one(a.replica_id)  # the first is woken, then cancelled before it ran
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return _names(await asyncio.wait_for(second, 1.0))

    assert asyncio.run(main()) == [["a"]]


def _full_after_an_end(routed: bool, ended: bool = True) -> bool:
    """Whether a request waiting on a full replica is let go soon after the replica answers full, the
    answer coming just after a request ended there (`ended`), for a request it accepted (`routed`) or not."""

    async def main() -> bool:
        a = Replica("a", 2)
        router = await _router(a, fallback_s=5.0)
        waiting = asyncio.create_task(router.choose_replicas(router._replicas_list, _pending()))
        await asyncio.sleep(0.02)
        if ended:
            router.on_request_completed(a.replica_id, "r")
        router.on_new_queue_len_info(a.replica_id, 2)
        if routed:
            router.on_request_routed(_pending(), a.replica_id, None)
        done, _ = await asyncio.wait({waiting}, timeout=0.3)
        if not done:
            waiting.cancel()
            return False
        assert _names(waiting.result()) == [["a"]]
        return True

    return asyncio.run(main())


def test_a_replica_refusing_just_after_a_request_ended_there_is_asked_again() -> None:
    # The handle hears of the end before the replica has let go of the request: its "full" may be stale.
    assert _full_after_an_end(routed=False)


def test_a_full_answer_that_accepted_a_request_is_not_asked_again() -> None:
    assert not _full_after_an_end(routed=True)


def test_a_full_answer_with_no_request_ended_there_is_not_asked_again() -> None:
    assert not _full_after_an_end(routed=False, ended=False)
