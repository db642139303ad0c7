"""Test-only model classes with a lifecycle: one whose first load fails, one that counts its loads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import numpy as np

from modelport import Message, Parameter, model


@model("flaky-embed")
class FlakyEmbedder:
    """Its first load fails, as a truncated download would; the next one works."""

    attempts = 0

    def load(self) -> None:
        type(self).attempts += 1
        if type(self).attempts == 1:
            raise OSError("weights.bin is truncated")

    def __call__(self, texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
        return np.ones((len(texts), 3), dtype=np.float32)


@model("counted-chat")
class CountedChat:
    """A chat model that says how many times it was loaded."""

    loads = 0

    def load(self) -> None:
        type(self).loads += 1

    def __call__(self, messages: list[Message]) -> Iterator[str]:
        yield f"load {type(self).loads}"
