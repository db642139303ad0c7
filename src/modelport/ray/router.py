"""How the ingress picks a replica for each request: one with room, known from what it sent and what ended.

Ray Serve's default router (the power of two choices) polls: a request whose two random replicas are full
asks them again after a back-off, with a call to each, and waiting requests that see the same freed room
are all sent to it, and all but one refused. With four busy replicas and sixteen clients that was ~180 calls
a second and a refusal for every second request (bench/ray_trace.py), on two cores that the replicas needed.

`SlotRouter` reads Ray's cache of each replica's queue length (which the handle keeps from what it sent,
what completed and what replicas answered), plus the requests it chose a replica for and has not sent yet: a
request goes to the replica with the most room; when every replica is full, one of this router's requests
ending there wakes one waiting request. Ray's own probing stays for what the cache does not know: a replica
not in it yet, and, every `fallback_s` while all are full, requests of another handle, which this router
does not see end. At the same load: no probe, no refusal, and the server's processes used 0.5 of the two
cores instead of 1.3. Unlike Ray's default, it does not prefer replicas on the ingress's own node.

The handle hears that a request ended a moment before the replica has let go of it, so the request woken by
that end is sometimes refused, and would then wait for the next end while the replica runs its last waiting
call and then idles (with one replica, 14 refusals in 103 calls). A replica that refuses just after a
request ended there is asked again `RECHECK_SECONDS` later, once per end.

Ray pickles this module by value into each handle's process: it imports only Ray and the standard library.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from ray.serve.request_router import FIFOMixin, PendingRequest, ReplicaID, RequestRouter, RunningReplica

# How long a request waits for room it was not told of before Ray's router asks the replicas.
FALLBACK_SECONDS = 0.5
# A replica chosen for a request counts as one fuller until the request is sent to it (Ray counts it in its
# cache only then, a loop turn or more later: requests chosen in between all took the same room, and all but
# one were refused), or, if it never is (its routing task found its request taken by another), this long.
CHOSEN_SECONDS = 0.05
# A full answer from a replica this soon after a request ended there may predate its letting go of it ...
ENDED_SECONDS = 0.05
# ... and unless the answer accepted a request, the replica is asked again this much later.
RECHECK_SECONDS = 0.005


@dataclass(frozen=True)
class _Ask:
    """News for a waiting request: let Ray ask this replica its queue length."""

    replica_id: ReplicaID


# What wakes a waiting request: a replica with room, one to ask, or None (look at all again).
_News = ReplicaID | _Ask | None


class SlotRouter(FIFOMixin, RequestRouter):
    """Requests to the replica with the most room; when all are full, woken when a request ends."""

    def initialize_state(self, fallback_s: float = FALLBACK_SECONDS, **kwargs: Any) -> None:
        super().initialize_state(**kwargs)  # type: ignore[no-untyped-call]
        self._fallback_s = fallback_s
        self._waiting: deque[asyncio.Future[_News]] = deque()
        self._chosen: dict[ReplicaID, deque[float]] = {}
        self._ended: dict[ReplicaID, float] = {}
        self._routed: dict[ReplicaID, float] = {}

    async def choose_replicas(
        self, candidate_replicas: list[RunningReplica], pending_request: PendingRequest | None = None
    ) -> list[list[RunningReplica]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._fallback_s
        while True:
            room = self._with_room(candidate_replicas)
            if room:
                return [self._choose(room[0])]
            unknown = [r for r in candidate_replicas if self._queued(r) is None]
            if unknown or pending_request is None or loop.time() >= deadline:
                return [_two(unknown or candidate_replicas)]  # Ray asks them their queue lengths
            news = await self._news(deadline - loop.time())
            if isinstance(news, _Ask) and news.replica_id in self.curr_replicas:
                return [[self.curr_replicas[news.replica_id]]]  # Ray asks it: its answer was stale
            # Replicas may have died or started meanwhile.
            candidate_replicas = list(self.curr_replicas.values())

    def on_send_request(self, replica_id: ReplicaID) -> None:
        super().on_send_request(replica_id)
        chosen = self._chosen.get(replica_id)
        if chosen:
            chosen.popleft()

    def on_request_completed(self, replica_id: ReplicaID, internal_request_id: str) -> None:
        super().on_request_completed(replica_id, internal_request_id)
        self._ended[replica_id] = time.monotonic()
        # The handle lowers the replica's count in the cache in a callback queued with this one: wake a
        # waiting request after it.
        asyncio.get_running_loop().call_soon(self._wake_one, replica_id)

    def on_new_queue_len_info(self, replica_id: ReplicaID, num_ongoing_requests: int) -> None:
        super().on_new_queue_len_info(replica_id, num_ongoing_requests)
        replica = self.curr_replicas.get(replica_id)
        if replica is None:
            return
        if num_ongoing_requests < replica.max_ongoing_requests:
            self._wake_one(replica_id)
            return
        now = time.monotonic()
        ended = self._ended.pop(replica_id, None)
        if ended is not None and now - ended < ENDED_SECONDS:
            asyncio.get_running_loop().call_later(RECHECK_SECONDS, self._recheck, replica_id, now)

    def on_request_routed(self, pending_request: PendingRequest, replica_id: ReplicaID, result: Any) -> None:
        super().on_request_routed(pending_request, replica_id, result)
        self._routed[replica_id] = time.monotonic()

    def _recheck(self, replica_id: ReplicaID, told_at: float) -> None:
        # An accepted request's answer says full too: then nothing was refused.
        if self._routed.get(replica_id, -1.0) < told_at:
            self._wake_one(_Ask(replica_id))

    def update_replicas(self, replicas: list[RunningReplica]) -> None:
        super().update_replicas(replicas)
        self._wake_all()

    def on_replica_actor_died(self, replica_id: ReplicaID) -> None:
        super().on_replica_actor_died(replica_id)
        self._wake_all()

    def _queued(self, replica: RunningReplica) -> int | None:
        """What the replica holds, as far as this router knows: Ray's count, and the requests on their way."""
        queued: int | None = self.replica_queue_len_cache.get(replica.replica_id)
        chosen = self._chosen.get(replica.replica_id)
        if chosen:
            while chosen and chosen[0] < time.monotonic() - CHOSEN_SECONDS:
                chosen.popleft()
            if queued is not None:
                queued += len(chosen)
        return queued

    def _choose(self, replica: RunningReplica) -> list[RunningReplica]:
        self._chosen.setdefault(replica.replica_id, deque()).append(time.monotonic())
        return [replica]

    def _with_room(self, candidates: list[RunningReplica]) -> list[RunningReplica]:
        """The candidates the cache knows to have room, the most room first (ties in random order)."""
        room: list[tuple[int, RunningReplica]] = []
        for replica in candidates:
            queued = self._queued(replica)
            if queued is not None and queued < replica.max_ongoing_requests:
                room.append((queued - replica.max_ongoing_requests, replica))
        random.shuffle(room)
        room.sort(key=lambda pair: pair[0])
        return [replica for _, replica in room]

    async def _news(self, seconds: float) -> _News:
        """Until one of this router's requests ends, a replica reports room or is to be asked again, or
        `seconds` pass (None)."""
        waiter: asyncio.Future[_News] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(seconds):
                return await waiter
        except TimeoutError:
            return None
        except asyncio.CancelledError:
            # The request was cancelled after it was woken: the room it was told of goes to another.
            if waiter.done() and not waiter.cancelled():
                self._wake_one(waiter.result())
            raise
        finally:
            if not waiter.done():
                waiter.cancel()

    def _wake_one(self, news: _News) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(news)
                return

    def _wake_all(self) -> None:
        while self._waiting:
            self._wake_one(None)


def _two(replicas: list[RunningReplica]) -> list[RunningReplica]:
    return random.sample(replicas, min(2, len(replicas)))
