"""A replica's process killed while the model is under load: the requests it held get 503s, no other
request is lost, and Ray starts a new replica in its place."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from live_server import LiveServer

CLIENTS = 6
DELAY = 0.5
# Ray notices the death, starts a process and loads the model: a while on a loaded machine.
RECOVERY_TIMEOUT = 300.0


@dataclass(frozen=True)
class Outcome:
    sent: float
    ended: float
    status: int
    body: dict[str, Any]


def _ask(client: httpx.Client, delay: float) -> Outcome:
    body = {"model": "whoami", "messages": [{"role": "user", "content": "hi"}], "delay": delay}
    sent = time.monotonic()
    response = client.post("/v1/chat/completions", json=body)
    return Outcome(sent, time.monotonic(), response.status_code, response.json())


def _pid(outcome: Outcome) -> int:
    return int(outcome.body["choices"][0]["message"]["content"].split()[1])


def _answer_from(pid: int, outcomes: list[Outcome], after: float) -> float:
    """When the first answer from `pid` that arrived after `after` arrived (the load threads append them)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for outcome in list(outcomes):
            if outcome.ended > after and outcome.status == 200 and _pid(outcome) == pid:
                return outcome.ended
        time.sleep(0.01)
    raise AssertionError(f"no answer from replica {pid} within 60 s")


def test_killed_replica_fails_only_its_requests_in_flight_and_is_replaced(
    ray_server: LiveServer, ray_deployment: Any
) -> None:
    with httpx.Client(base_url=ray_server.url, timeout=120) as client:
        pids: set[int] = set()
        deadline = time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:
            pids.add(_pid(_ask(client, 0.0)))
    assert len(pids) == 2, pids
    victim = min(pids)

    outcomes: list[Outcome] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=ray_server.url, timeout=120) as own:
            while not stop.is_set():
                outcomes.append(_ask(own, DELAY))

    # Six clients on two replicas that take two requests each: both replicas are always busy, and two
    # requests always wait in the router, not yet started.
    threads = [threading.Thread(target=load) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    # The requests run in step (they start together and take DELAY each), so a kill at a fixed time can
    # land between two of the victim's, when it holds none. A slot of the victim's is taken again within
    # milliseconds of an answer from it (by a request waiting in the router, or by the answered client's
    # next one): kill half a DELAY after one, in the middle of the next.
    answered = _answer_from(victim, outcomes, after=time.monotonic() + 2 * DELAY)
    time.sleep(max(0.0, answered + DELAY / 2 - time.monotonic()))
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    time.sleep(8 * DELAY)
    stop.set()
    for thread in threads:
        thread.join()

    assert {outcome.status for outcome in outcomes} <= {200, 503}, [o for o in outcomes if o.status not in (200, 503)]
    failed = [outcome for outcome in outcomes if outcome.status == 503]
    # At most the two requests the killed replica held; every one of them was sent before the kill.
    assert 1 <= len(failed) <= 2, failed
    for outcome in failed:
        assert outcome.sent < killed_at < outcome.ended
        error = outcome.body["error"]
        assert (error["type"], error["code"]) == ("server_error", "service_unavailable")
        assert "whoami" in error["message"]
    after = [outcome for outcome in outcomes if outcome.sent > killed_at]
    assert after
    assert all(outcome.status == 200 for outcome in after)
    assert victim not in {_pid(outcome) for outcome in after}

    # Ray replaces the replica: two run again, and a new process answers.
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    with httpx.Client(base_url=ray_server.url, timeout=120) as client:
        seen: set[int] = set()
        while time.monotonic() < deadline:
            outcome = _ask(client, 0.0)
            assert outcome.status == 200, outcome
            seen.add(_pid(outcome))
            if seen - pids and ray_deployment.status()["whoami"]["replicas"] == {"RUNNING": 2}:
                break
            time.sleep(0.2)
    assert seen - pids, "no new replica answered"
    assert victim not in seen
    assert ray_deployment.status()["whoami"]["replicas"] == {"RUNNING": 2}
