"""Test-only models for Ray Serve: one names its replica, one is slow, one kills its replica or refuses."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from modelport import Message, model
from modelport.errors import InvalidRequestError


@model("whoami")
def whoami(messages: list[Message]) -> Iterator[str]:
    """The id of the process that answers: each replica is its own process."""
    yield f"pid {os.getpid()}"


@model("slow")
def slow(messages: list[Message], delay: float = 1.0) -> Iterator[str]:
    """Answers after `delay` seconds, to fill a replica's queue."""
    time.sleep(delay)
    yield "done"


@model("crash")
def crash(messages: list[Message]) -> Iterator[str]:
    """Kills its own replica's process when asked to `die`, as a crashed model would; refuses `refuse`."""
    if any(message["content"] == "refuse" for message in messages):
        raise InvalidRequestError("This model refuses the word 'refuse'.", param="messages")
    yield "alive"
    if any(message["content"] == "die" for message in messages):
        os._exit(1)
