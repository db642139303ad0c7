"""One served model's lifecycle: its state, who is using it, when it was last used and what it weighs.

The registry decides when a model loads and unloads (`modelport.runtime.registry`); this module holds what
those decisions read. Everything here runs on the event loop, so a check and the change it leads to happen
without an `await` in between and need no lock.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from modelport.runtime.interface import Predictor


class State(StrEnum):
    """Where a model is in its lifecycle, as `GET /v1/models` shows it."""

    UNLOADED = "unloaded"
    LOADING = "loading"
    LOADED = "loaded"
    UNLOADING = "unloading"


@dataclass(frozen=True)
class LoadPolicy:
    """When a model loads and unloads."""

    # Load when the server starts (True) or on the model's first request (False).
    at_start: bool = True
    # Seconds without a request after which the model unloads; 0 keeps it loaded.
    idle_timeout: float = 0.0
    # Never unloaded to make room for another model, nor when idle.
    pinned: bool = False
    # What the model is expected to take in memory, from its files, until a load measures it.
    estimated_bytes: int = 0
    # Served by another server (an upstream's model): it takes no memory here, so its load is not measured
    # and it is never unloaded to make room; it still loads on demand and unloads when idle.
    remote: bool = False


class LifecycleObserver(Protocol):
    """Told of every load and unload (the metrics implement it)."""

    def model_loaded(self, name: str, seconds: float, memory_bytes: int) -> None: ...

    def model_load_failed(self, name: str) -> None: ...

    def model_unloaded(self, name: str) -> None: ...


class ManagedModel:
    """A predictor and its lifecycle state; `served` is what requests call (the predictor, maybe measured)."""

    def __init__(self, predictor: Predictor, policy: LoadPolicy, served: Predictor | None = None) -> None:
        self.predictor = predictor
        self.served = served or predictor
        self.policy = policy
        # A plain function needs no loading: it is served from the start and there is nothing to unload.
        self.static = predictor.loaded
        self.state = State.LOADED if predictor.loaded else State.UNLOADED
        self.in_use = 0
        self.last_used = time.monotonic()
        self.measured_bytes = 0
        self.load_seconds: float | None = None
        self.last_error: str | None = None
        self.loading: asyncio.Task[None] | None = None
        self.unloading: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.predictor.name

    @property
    def memory_bytes(self) -> int:
        """What the model takes when loaded: the larger of the estimate from its files and what its loads
        measured (the resident memory's growth, which may fall short when other work frees memory meanwhile)."""
        return max(self.measured_bytes, self.policy.estimated_bytes)

    @property
    def evictable(self) -> bool:
        """Loaded, serving nobody and not pinned: may be unloaded to make room or when idle."""
        return self.state is State.LOADED and self.in_use == 0 and not self.policy.pinned and not self.static

    def idle_for(self, now: float) -> float:
        return now - self.last_used if self.in_use == 0 else 0.0


class Lease:
    """A request's hold on a loaded model: it is not unloaded until every lease on it is released."""

    def __init__(self, model: ManagedModel) -> None:
        self._model: ManagedModel | None = model

    @property
    def predictor(self) -> Predictor:
        if self._model is None:
            raise RuntimeError("the lease is released")
        return self._model.served

    def release(self) -> None:
        """End the hold; releasing twice does nothing."""
        model, self._model = self._model, None
        if model is not None:
            model.in_use -= 1
            model.last_used = time.monotonic()
