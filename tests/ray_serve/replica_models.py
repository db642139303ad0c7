"""Test-only models for Ray Serve: one names its replica and node, one is slow, one kills its replica or
refuses, one reports the size of the embedding batch it ran, and one image model counts its prompt's tokens."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Annotated

import numpy as np

from modelport import Message, Parameter, model
from modelport.errors import InvalidRequestError


def _node() -> str:
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"


@model("whoami")
def whoami(messages: list[Message], delay: float = 0.0) -> Iterator[str]:
    """The process and the Ray node that answer (each replica is its own process), after `delay` seconds."""
    time.sleep(delay)
    yield f"pid {os.getpid()} node {_node()}"


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


@model("batch-probe")
def batch_probe(texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
    """Each row is [size of the batch this call ran, id of the process that ran it]; slow enough for the
    requests that arrive meanwhile to wait and share the next batch."""
    time.sleep(0.3)
    return np.array([[len(texts), os.getpid()]] * len(texts), dtype=np.float32)


@model("picky-image")
def picky_image(prompt: str) -> Annotated[np.ndarray, Parameter.Image()]:
    """An 8x8 black image for prompts of at most three words, which its own counter counts."""
    return np.zeros((8, 8, 3), np.uint8)


picky_image.max_prompt_tokens = 3  # type: ignore[attr-defined]
picky_image.count_prompt_tokens = lambda prompt: len(prompt.split())  # type: ignore[attr-defined]
